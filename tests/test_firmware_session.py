"""The pump's session rules: check order, NAK values, roles, authentication, test mode, link counters."""

import pytest

from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.codes import Error, LogKind, Role
from pumpmock.protocol.framing import ACK, EVENT, NAK, REQUEST, RESPONSE, encode_frame
from pumpmock.protocol.vectors import load

from pumpmock.firmware_mock import spec
from pumpmock.firmware_mock.auth import hmac_sha256

from test_firmware_support import SERIAL, Host, morphine


def nak_of(host, wire):
    frames = host.write(wire)
    assert len(frames) == 1 and frames[0].kind == NAK
    return m.Nak.decode(frames[0].payload, frames[0].msg_id), frames[0]


def test_hmac_matches_the_standard_library():
    import hashlib
    import hmac
    for key in (b"", b"k" * 32, b"long" * 40):
        assert hmac_sha256(key, b"message") == hmac.new(key, b"message", hashlib.sha256).digest()


def test_hello_identifies_the_mock():
    host = Host(test_mode=False)
    hello = host.hello()
    assert (hello.magic, hello.banner, hello.protocol_version, hello.serial, hello.test_mode, hello.capacity_ul) == \
        (b"PMCK", "NOT FOR CLINICAL USE", 1, SERIAL, 0, 20_000)


def test_check_order_version_before_everything():
    host = Host(test_mode=False)
    nak, frame = nak_of(host, encode_frame(REQUEST, 0x7E, 5, b"junk", version=2))
    assert (nak.code, nak.limit_value, nak.actual_value, frame.msg_id, frame.seq) == (Error.BAD_VERSION, 1, 2, 0x7E, 5)


def test_unknown_messages_and_host_sent_pump_kinds():
    host = Host()
    for kind, msg_id in ((REQUEST, 0x7E), (REQUEST, 0x80), (RESPONSE, 0x10), (EVENT, 0x80), (NAK, 0x10)):
        nak, frame = nak_of(host, encode_frame(kind, msg_id, 9))
        assert nak.code == Error.UNKNOWN_MESSAGE and frame.seq == 9 and frame.msg_id == msg_id


def test_test_control_needs_test_mode_before_anything_else():
    host = Host(test_mode=False)
    nak, _ = nak_of(host, encode_frame(REQUEST, spec.ID_TC_WARP_CLOCK, 1, b"\x01"))  # bad length too
    assert nak.code == Error.NOT_IN_TEST_MODE


def test_roles():
    host = Host()
    host.hello()
    assert host.refused(m.GetStatusRequest()).code == Error.UNAUTHORIZED
    assert host.refused(m.RefillRequest(1, 20_000, 1)).code == Error.UNAUTHORIZED
    host.authenticate(Role.PATIENT)
    assert host.call(m.GetStatusRequest()).role == Role.PATIENT
    nak = host.refused(m.ProgramPrescriptionRequest((), morphine()))
    assert (nak.code, nak.subject) == (Error.WRONG_ROLE, Role.CLINICIAN)
    host.authenticate(Role.CLINICIAN)
    assert host.call(m.GetStatusRequest()).role == Role.CLINICIAN
    host.call(m.LogoutRequest())
    assert host.refused(m.GetAlarmsRequest()).code == Error.UNAUTHORIZED
    host.authenticate(Role.CLINICIAN)
    host.hello()
    assert host.refused(m.GetAlarmsRequest()).code == Error.UNAUTHORIZED  # HELLO resets the role


def test_role_is_checked_before_the_payload():
    host = Host()
    nak, _ = nak_of(host, encode_frame(REQUEST, spec.ID_REFILL, 3, b"\x01"))
    assert nak.code == Error.UNAUTHORIZED
    host.authenticate()
    nak, _ = nak_of(host, encode_frame(REQUEST, spec.ID_REFILL, 4, b"\x01"))
    assert (nak.code, nak.limit_value, nak.actual_value) == (Error.BAD_LENGTH, 9, 1)


@pytest.mark.parametrize("entry", [e for e in load("malformed") if e.get("pump_nak") not in (None, "-")],
                         ids=lambda e: e["name"])
def test_malformed_vectors_get_their_nak_from_an_authenticated_clinician(entry):
    host = Host()
    host.authenticate()
    frames = host.write(bytes.fromhex(entry["wire"]))
    assert len(frames) == 1 and frames[0].kind == NAK
    assert m.Nak.decode(frames[0].payload).code == Error[entry["pump_nak"]]


@pytest.mark.parametrize("entry", [e for e in load("malformed") if "pump_nak" in e and e["pump_nak"] is None],
                         ids=lambda e: e["name"])
def test_broken_frames_are_dropped_silently_and_counted(entry):
    host = Host()
    assert host.write(bytes.fromhex(entry["wire"])) == []
    bad = sum(1 for o in entry["outcome"] if "error" in o)
    assert host.counters().frames_bad == bad


def test_authentication_success_forged_replayed_expired_and_wrong_role():
    host = Host()
    host.hello()
    nonce = host.call(m.AuthChallengeRequest(Role.CLINICIAN)).nonce
    assert len(nonce) == 16
    mac = auth_mac(role_key(SERIAL, Role.CLINICIAN), nonce, SERIAL, Role.CLINICIAN)
    assert host.call(m.AuthResponseRequest(Role.CLINICIAN, mac)).role == Role.CLINICIAN
    assert host.refused(m.AuthResponseRequest(Role.CLINICIAN, mac)).code == Error.UNAUTHORIZED  # replayed
    nonce = host.call(m.AuthChallengeRequest(Role.PATIENT)).nonce
    forged = bytes(32)
    assert host.refused(m.AuthResponseRequest(Role.PATIENT, forged)).code == Error.UNAUTHORIZED
    nonce = host.call(m.AuthChallengeRequest(Role.PATIENT)).nonce  # a nonce for the patient role ...
    mac = auth_mac(role_key(SERIAL, Role.CLINICIAN), nonce, SERIAL, Role.CLINICIAN)
    assert host.refused(m.AuthResponseRequest(Role.CLINICIAN, mac)).code == Error.UNAUTHORIZED  # ... not clinician


def test_a_nonce_expires_after_its_lifetime():
    host = Host()
    for wait_ms, accepted in ((spec.NONCE_LIFETIME_S * 1000, True), (spec.NONCE_LIFETIME_S * 1000 + 1, False)):
        nonce = host.call(m.AuthChallengeRequest(Role.PATIENT)).nonce
        host.advance(wait_ms)
        mac = auth_mac(role_key(SERIAL, Role.PATIENT), nonce, SERIAL, Role.PATIENT)
        answer = host.request(m.AuthResponseRequest(Role.PATIENT, mac))
        assert isinstance(answer, m.AuthResponseResponse) == accepted


def test_nonces_are_reproducible_from_an_explicit_seed():
    first = [Host(seed=7).call(m.AuthChallengeRequest(Role.PATIENT)).nonce for _ in range(2)]
    other = Host(seed=8).call(m.AuthChallengeRequest(Role.PATIENT)).nonce
    assert first[0] == first[1] != other


def _challenge(pump, now_ms=0):
    from pumpmock.protocol import decode_frame
    frame = decode_frame(pump.receive(m.encode_message(m.AuthChallengeRequest(Role.PATIENT), 1), now_ms))
    return m.AuthChallengeResponse.decode(frame.payload).nonce


def test_fresh_unseeded_pumps_never_issue_the_same_nonces():
    from pumpmock.firmware_mock.core import Pump
    nonces = [_challenge(Pump(serial=SERIAL)) for _ in range(50)]
    assert len(set(nonces)) == 50


def test_a_captured_auth_response_is_refused_by_the_next_fresh_emulator():
    from pumpmock.firmware_mock.core import Pump
    first = Host(pump=Pump(serial=SERIAL, test_mode=True))
    nonce = first.call(m.AuthChallengeRequest(Role.CLINICIAN)).nonce
    captured = m.AuthResponseRequest(Role.CLINICIAN, auth_mac(role_key(SERIAL, Role.CLINICIAN), nonce, SERIAL,
                                                              Role.CLINICIAN))
    replayed = Host(pump=Pump(serial=SERIAL, test_mode=True))
    replayed.call(m.AuthChallengeRequest(Role.CLINICIAN))
    assert replayed.refused(captured).code == Error.UNAUTHORIZED


def test_reboots_never_repeat_a_nonce_and_tc_reset_restarts_only_a_seeded_sequence():
    host = Host(seed=7)
    seen = set()
    for step in range(20):
        nonce = host.call(m.AuthChallengeRequest(Role.PATIENT)).nonce
        assert nonce not in seen, "boot %d repeated a nonce" % step
        seen.add(nonce)
        host.call(m.TcPowerLossRequest(0))
    host.call(m.TcResetRequest(7))  # an explicit seed: the test run starts over, reproducibly
    assert host.call(m.AuthChallengeRequest(Role.PATIENT)).nonce == Host(seed=7).call(
        m.AuthChallengeRequest(Role.PATIENT)).nonce
    from pumpmock.firmware_mock.core import Pump
    unseeded = Host(pump=Pump(serial=SERIAL, test_mode=True))
    nonces = set()
    for _ in range(20):  # an unseeded pump stays random whatever TC_RESET's seed says
        unseeded.call(m.TcResetRequest(7))
        nonces.add(unseeded.call(m.AuthChallengeRequest(Role.PATIENT)).nonce)
    assert len(nonces) == 20


def test_the_nonce_epoch_is_wider_than_the_reboot_counter():
    from pumpmock.firmware_mock.core import Pump
    from pumpmock.firmware_mock.storage import RamStorage
    storage = RamStorage()
    pump = Pump(serial=SERIAL, seed=3, storage=storage)
    pump.receive(m.encode_message(m.HelloRequest(1, 1), 1), 0)  # saved: a record to boot from
    before = _challenge(Pump(serial=SERIAL, seed=3, storage=storage))
    pump = Pump(serial=SERIAL, seed=3, storage=storage)
    pump.model.reboots += 0x10000 - 1  # as if 65,536 boots had passed: the u16 counter wraps
    pump.nonce_epoch += 0x10000 - 1
    pump._save()
    after = Pump(serial=SERIAL, seed=3, storage=storage)
    assert after.model.reboots & 0xFFFF == 2 and _challenge(after) != before


def test_a_lockout_survives_a_power_loss_and_a_real_reboot():
    from pumpmock.firmware_mock.core import Pump
    from pumpmock.firmware_mock.storage import RamStorage
    storage = RamStorage()
    host = Host(storage=storage)
    for _ in range(spec.AUTH_MAX_FAILURES):
        host.call(m.AuthChallengeRequest(Role.CLINICIAN))
        host.refused(m.AuthResponseRequest(Role.CLINICIAN, bytes(32)))
    host.call(m.TcPowerLossRequest(0))
    assert host.refused(m.AuthChallengeRequest(Role.CLINICIAN)).code == Error.AUTH_LOCKED_OUT
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=storage))
    assert reborn.refused(m.AuthChallengeRequest(Role.CLINICIAN)).code == Error.AUTH_LOCKED_OUT
    reborn.advance(spec.AUTH_LOCKOUT_S * 1000)
    assert reborn.authenticate() == Role.CLINICIAN


def test_a_failure_count_survives_a_reboot():
    host = Host(storage=None)
    for _ in range(spec.AUTH_MAX_FAILURES - 1):
        host.call(m.AuthChallengeRequest(Role.CLINICIAN))
        host.refused(m.AuthResponseRequest(Role.CLINICIAN, bytes(32)))
    host.call(m.TcPowerLossRequest(0))
    host.call(m.AuthChallengeRequest(Role.CLINICIAN))
    host.refused(m.AuthResponseRequest(Role.CLINICIAN, bytes(32)))  # the last try, not the first
    assert host.refused(m.AuthChallengeRequest(Role.CLINICIAN)).code == Error.AUTH_LOCKED_OUT


def test_failures_lock_authentication_out():
    host = Host()
    for _ in range(spec.AUTH_MAX_FAILURES):
        host.call(m.AuthChallengeRequest(Role.CLINICIAN))
        assert host.refused(m.AuthResponseRequest(Role.CLINICIAN, bytes(32))).code == Error.UNAUTHORIZED
    nak = host.refused(m.AuthChallengeRequest(Role.CLINICIAN))
    assert (nak.code, nak.limit_value, nak.actual_value) == (Error.AUTH_LOCKED_OUT, 300, 300)
    host.advance(299_500)
    nak = host.refused(m.AuthResponseRequest(Role.CLINICIAN, bytes(32)))
    assert (nak.code, nak.actual_value) == (Error.AUTH_LOCKED_OUT, 1)
    host.advance(500)
    assert host.authenticate() == Role.CLINICIAN
    kinds = [(e.kind, e.code, e.value) for e in host.log() if e.kind == LogKind.AUTH]
    assert kinds == [(LogKind.AUTH, Role.CLINICIAN, 0)] * 3 + [(LogKind.AUTH, Role.CLINICIAN, 1)]


def test_custom_role_keys():
    key = b"\x42" * 32
    host = Host(role_keys={Role.PATIENT: key, Role.CLINICIAN: key})
    nonce = host.call(m.AuthChallengeRequest(Role.PATIENT)).nonce
    assert host.call(m.AuthResponseRequest(Role.PATIENT, auth_mac(key, nonce, SERIAL, Role.PATIENT))).role == 1


def test_link_counters():
    host = Host()
    host.write(b"\x13\x37\x00")  # one bad frame
    host.refused(m.GetStatusRequest())
    counters = host.counters()
    assert (counters.frames_bad, counters.naks_sent, counters.requests_executed) == (1, 1, 2)
    host.call(m.TcResetRequest(0))
    counters = host.counters()
    assert (counters.frames_bad, counters.naks_sent, counters.requests_executed) == (0, 0, 1)


def test_ack_frames_are_never_answered():
    host = Host()
    assert host.write(encode_frame(ACK, 0x80, 1)) == []
    assert host.write(encode_frame(ACK, 0x80, 1, b"x")) == []


def test_a_retransmitted_auth_response_gets_the_cached_answer_and_keeps_the_nonce():
    """A lost AUTH_RESPONSE answer must not burn the nonce or count as a failed login."""
    from pumpmock.protocol import decode_frame, encode_message
    from pumpmock.protocol import messages as m
    from pumpmock.protocol.auth import auth_mac, role_key
    from pumpmock.firmware_mock.core import Pump

    pump = Pump(serial="PM-000009", test_mode=True)
    pump.receive(encode_message(m.HelloRequest(1, 1), 1), 0)
    nonce = m.AuthChallengeResponse.decode(decode_frame(pump.receive(
        encode_message(m.AuthChallengeRequest(2), 2), 0)).payload).nonce
    request = encode_message(m.AuthResponseRequest(2, auth_mac(role_key("PM-000009", 2), nonce, "PM-000009", 2)), 3)
    first = pump.receive(request, 1)
    again = pump.receive(request, 2)
    assert first == again
    assert decode_frame(again).kind == 1  # RESPONSE, not NAK UNAUTHORIZED


def test_a_new_or_lost_connection_ends_the_session():
    for event in ("connection_made", "connection_lost"):
        host = Host()
        host.hello()
        host.authenticate()
        nonce = host.call(m.AuthChallengeRequest(Role.CLINICIAN)).nonce  # outstanding for the old line
        host.write(m.encode_message(m.GetStatusRequest(), 0x55)[:4])  # half a frame from the old line
        getattr(host.pump, event)()
        assert host.refused(m.GetPrescriptionRequest()).code == Error.UNAUTHORIZED  # not glued, no role
        assert host.refused(m.SuspendRequest()).code == Error.UNAUTHORIZED
        mac = auth_mac(role_key(SERIAL, Role.CLINICIAN), nonce, SERIAL, Role.CLINICIAN)
        assert host.refused(m.AuthResponseRequest(Role.CLINICIAN, mac)).code == Error.UNAUTHORIZED
        assert host.authenticate() == Role.CLINICIAN  # a fresh login works


def _first_nonce(url):
    from pumpmock import harness
    session = harness.connect(url)
    try:
        return session.request(m.AuthChallengeRequest(Role.PATIENT)).nonce
    finally:
        session.close()


def test_every_fresh_emulator_url_and_serve_issues_new_nonces_unless_seeded():
    """pumpmock:// without seed= is a fresh pump with random nonces, as serve and the board are."""
    assert len({_first_nonce("pumpmock://?clock=virtual") for _ in range(5)}) == 5
    assert len({_first_nonce("pumpmock://?clock=virtual&seed=7") for _ in range(3)}) == 1
    from pumpmock.harness.serve_cmd import add_arguments
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["--stdio"]).seed is None


def test_a_retransmitted_challenge_gets_the_same_nonce_and_a_new_one_a_new_nonce():
    """A line that duplicates AUTH_CHALLENGE (or a host that retransmits it) must not replace the
    nonce the host is answering: the login with the first answer's nonce succeeds."""
    from pumpmock.firmware_mock.core import Pump
    from pumpmock.protocol import decode_frame
    pump = Pump(serial=SERIAL, test_mode=True)
    challenge = m.encode_message(m.AuthChallengeRequest(Role.CLINICIAN), 40)
    out = pump.receive(challenge + challenge, 0)  # the same frame twice
    frames = [decode_frame(block + b"\x00") for block in out.split(b"\x00")[:-1]]
    nonces = [m.AuthChallengeResponse.decode(f.payload).nonce for f in frames]
    assert len(nonces) == 2 and nonces[0] == nonces[1]
    mac = auth_mac(role_key(SERIAL, Role.CLINICIAN), nonces[0], SERIAL, Role.CLINICIAN)
    answer = decode_frame(pump.receive(m.encode_message(m.AuthResponseRequest(Role.CLINICIAN, mac), 41), 0))
    assert m.AuthResponseResponse.decode(answer.payload).role == Role.CLINICIAN
    again = decode_frame(pump.receive(challenge, 0))  # the nonce was spent: a retransmission now gets a new one
    assert m.AuthChallengeResponse.decode(again.payload).nonce != nonces[0]
    fresh = decode_frame(pump.receive(m.encode_message(m.AuthChallengeRequest(Role.CLINICIAN), 42), 0))
    assert m.AuthChallengeResponse.decode(fresh.payload).nonce not in nonces
