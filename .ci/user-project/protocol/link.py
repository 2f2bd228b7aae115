"""A minimal link to the pump: HELLO, log in as the patient, GET_STATUS; timeouts and bounded retries."""

import time

import serial

from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.catalog import BANNER, MAGIC, PROTOCOL_VERSION
from pumpmock.protocol.codes import Role
from pumpmock.protocol.framing import RESPONSE, FrameDecoder

ANSWER_TIMEOUT_S = 2.0
TRIES = 3


class LinkFailed(Exception):
    """No answer, or a peer that is not the mock."""


class PumpLink:
    def __init__(self, port_name):
        self.port = serial.Serial(port_name, 115200, timeout=0.05)
        self.decoder = FrameDecoder()
        self.seq = 0

    def close(self):
        self.port.close()

    def request(self, message):
        self.seq = (self.seq + 1) % 65536
        wire = m.encode_message(message, self.seq)
        for _ in range(TRIES):  # the same bytes, same seq: the pump answers a repeat from its cache
            self.port.write(wire)
            deadline = time.monotonic() + ANSWER_TIMEOUT_S
            while time.monotonic() < deadline:
                for frame in self.decoder.feed(self.port.read(256)):
                    if frame.kind == RESPONSE and frame.seq == self.seq:
                        return m.decode_message(frame)
        raise LinkFailed("no answer to %s" % message.MESSAGE.name)

    def hello(self):
        identity = self.request(m.HelloRequest(1, PROTOCOL_VERSION))
        if identity.magic != MAGIC or identity.banner != BANNER:
            raise LinkFailed("the peer is not the pumpmock mock")
        self.serial = identity.serial
        return identity

    def login_as_patient(self):
        key = role_key(self.serial, Role.PATIENT)
        nonce = self.request(m.AuthChallengeRequest(Role.PATIENT)).nonce
        return self.request(m.AuthResponseRequest(Role.PATIENT, auth_mac(key, nonce, self.serial, Role.PATIENT)))

    def status(self):
        return self.request(m.GetStatusRequest())
