"""pumpmock protocol v1: catalog, codes, framing, typed messages. See docs/PROTOCOL.md."""

from .catalog import BANNER, MAGIC, PROTOCOL_VERSION
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .framing import ACK, EVENT, NAK, REQUEST, RESPONSE, Frame, FrameDecoder, decode_frame, encode_frame
from .messages import Ack, Nak, decode_message, encode_message, message_class, message_frame

__all__ = ["BANNER", "MAGIC", "PROTOCOL_VERSION", "ProtocolError", "RemoteProtocolError",
           "LocalProtocolError", "Frame", "FrameDecoder", "decode_frame", "encode_frame", "REQUEST",
           "RESPONSE", "EVENT", "ACK", "NAK", "Ack", "Nak", "decode_message", "encode_message",
           "message_class", "message_frame"]
