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
