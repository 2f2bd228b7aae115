"""The fuzz model (harness/fuzz/model.py) has a rule for every request, and says so when it has none."""

import pytest

from pumpmock.harness.fuzz import model
from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MESSAGES, MESSAGES_BY_NAME, Message
from pumpmock.protocol.framing import NAK, REQUEST, RESPONSE, encode_frame


def test_every_request_in_the_catalog_has_a_rule():
    """The guard: a request added to the catalog fails here until the model is taught it."""
    requests = sorted(message.name for message in MESSAGES if not message.event)
    assert model.UNMODELLED == []
    assert sorted(message.name for message in (model.MESSAGES_BY_ID[mid] for mid in model.HANDLERS)) == requests


def test_a_request_the_catalog_gained_later_raises_unmodelled(monkeypatch):
    free_id = min(mid for mid in range(1, 0x80) if mid not in model.MESSAGES_BY_ID)
    newcomer = Message(free_id, "GET_FIRMWARE_NOTES", "A request the model was never taught.",
                       request=(), response=(), role="NONE")
    monkeypatch.setitem(model.MESSAGES_BY_ID, free_id, newcomer)
    pump = model.OracleModel()
    with pytest.raises(model.Unmodelled, match="no rule for GET_FIRMWARE_NOTES \\(0x%02x\\)" % free_id):
        pump.receive(b"\x00" + encode_frame(REQUEST, free_id, 1), 0)


def test_a_request_whose_rule_is_missing_raises_unmodelled_instead_of_a_guessed_answer(monkeypatch):
    status = MESSAGES_BY_NAME["TC_GET_STATUS"]
    wire = b"\x00" + m.encode_message(m.TcGetStatusRequest(), 5)
    [(kind, msg_id, seq, _payload)] = model.OracleModel().receive(wire, 0)
    assert (kind, msg_id, seq) == (RESPONSE, status.id, 5)  # with its rule: an answer
    monkeypatch.delitem(model.HANDLERS, status.id)
    with pytest.raises(model.Unmodelled, match="no rule for TC_GET_STATUS"):
        model.OracleModel().receive(wire, 0)


def test_a_message_outside_the_catalog_is_refused_not_unmodelled():
    """Unmodelled is about the model's gaps; an id the catalog lacks is the pump's NAK UNKNOWN_MESSAGE."""
    free_id = min(mid for mid in range(1, 0x80) if mid not in model.MESSAGES_BY_ID)
    [(kind, msg_id, seq, payload)] = model.OracleModel().receive(b"\x00" + encode_frame(REQUEST, free_id, 3), 0)
    assert (kind, msg_id, seq) == (NAK, free_id, 3)
    assert m.Nak.decode(payload, msg_id).code == model.Error.UNKNOWN_MESSAGE


def test_a_run_longer_than_a_frame_fed_in_pieces_is_counted_once_and_the_next_frame_answered():
    pump = model.OracleModel()
    for _ in range(3):
        assert pump.receive(b"\x01" * 100, 0) == []
    hello = encode_frame(REQUEST, MESSAGES_BY_NAME["HELLO"].id, 9, m.HelloRequest(1, 1).encode())
    [(kind, _msg_id, seq, _payload)] = pump.receive(b"\x01\x00\x00" + hello, 0)
    assert (kind, seq, pump.frames_bad) == (RESPONSE, 9, 1)


def test_a_copy_of_the_model_reads_its_partial_input_on_its_own():
    """The oracle tries many splits of one write on copies: one copy's input must not reach another."""
    pump = model.OracleModel()
    hello = encode_frame(REQUEST, MESSAGES_BY_NAME["HELLO"].id, 9, m.HelloRequest(1, 1).encode())
    assert pump.receive(b"\x00" + hello[:4], 0) == []
    copy = pump.copy()
    assert [frame[2] for frame in copy.receive(hello[4:], 0)] == [9]
    assert [frame[2] for frame in pump.receive(hello[4:], 0)] == [9]  # the original still held its part
