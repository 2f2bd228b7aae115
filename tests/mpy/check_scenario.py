"""A short clinic session straight against Pump, run under MicroPython (or CPython): the pump works there.

    node firmware_mock/wasm_runner.mjs --run tests/mpy/check_scenario.py
    python tests/mpy/check_scenario.py

HELLO, a test-mode reset, a refused forged login, a clinician login with the documented key
derivation, refill, program a prescription, status, a PTM bolus, its lockout (and its alarm), a retransmission
answered from the cache (the bolus runs once), an hour of delivery, counters and the log.
Requests are built with the firmware's own codec (checked against the golden vectors by
check_vectors.py); authentication is computed here, on the host side, from the documentation.
Prints one line per failure and a summary; exit status 1 when anything failed.
"""

import sys

from firmware_mock import codec, spec
from firmware_mock.core import Pump
from firmware_mock.framing import FrameReader, encode_frame

from hostside import Checks, auth_mac

SERIAL = "PM-004242"
MORPHINE_UG_PER_ML = 20000
PRESCRIPTION = {"drug": spec.DRUG_MORPHINE, "concentration_ug_per_ml": MORPHINE_UG_PER_ML,
                "mode": spec.MODE_SIMPLE_CONTINUOUS, "daily_dose_ug": 3000, "steps": [],
                "ptm_dose_ug": 200, "ptm_lockout_min": 120, "ptm_max_per_24h": 3,
                "max_daily_dose_ug": 5000, "refill_interval_days": 30}
HOUR_MS = 3600 * 1000


class Host:
    """A minimal programmer: numbered requests at a virtual clock, answers decoded."""

    def __init__(self, pump, checks):
        self.pump = pump
        self.checks = checks
        self.seq = 0x0100
        self.now_ms = 5000
        self.events = []
        self.last_wire = b""

    def send(self, msg_id, values=None, seq=None):
        """(kind, payload) of the one answer to a request; a retransmission when seq is given."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        self.now_ms += 20
        payload = codec.encode(spec.REQUEST[msg_id], values or {})
        out = self.pump.receive(encode_frame(spec.K_REQUEST, msg_id, seq, payload), self.now_ms)
        self.last_wire = out
        answers = []
        for version, kind, answer_id, answer_seq, body in FrameReader().feed(out):
            if kind == spec.K_EVENT:
                self.events.append((answer_id, body))
            elif (answer_id, answer_seq) == (msg_id, seq):
                answers.append((kind, body))
        name = spec.MESSAGES[msg_id][0]
        if not self.checks.equal(len(answers), 1, name, "answers to seq %d" % seq):
            return None, b""
        return answers[0]

    def call(self, msg_id, values=None, seq=None):
        """The decoded response; a NAK is a failure (None)."""
        kind, body = self.send(msg_id, values, seq)
        name = spec.MESSAGES[msg_id][0]
        if kind == spec.K_NAK:
            self.checks.check(False, name, "NAK code %d (subject %d)" % (body[0], body[1]))
            return None
        if kind != spec.K_RESPONSE:
            return None
        return codec.decode(spec.RESPONSE[msg_id], body)

    def refused(self, msg_id, values=None):
        """The NAK code of a request that must be refused (None when it was not)."""
        kind, body = self.send(msg_id, values)
        self.checks.equal(kind, spec.K_NAK, spec.MESSAGES[msg_id][0], "answer kind (a NAK expected)")
        return body[0] if kind == spec.K_NAK else None

    def login(self, role, role_name, forged=False):
        nonce = self.call(spec.ID_AUTH_CHALLENGE, {"role": role})["nonce"]
        mac = bytes(32) if forged else auth_mac(SERIAL, role, role_name, nonce)
        if forged:
            return self.refused(spec.ID_AUTH_RESPONSE, {"role": role, "mac": mac})
        return self.call(spec.ID_AUTH_RESPONSE, {"role": role, "mac": mac})


def scenario(checks):
    pump = Pump(serial=SERIAL, test_mode=True, seed=11)
    host = Host(pump, checks)

    hello = host.call(spec.ID_HELLO, {"host_session_id": 0x5EED, "protocol_version": spec.PROTOCOL_VERSION})
    checks.equal(hello["magic"], b"PMCK", "HELLO", "magic")
    checks.equal(hello["banner"], "NOT FOR CLINICAL USE", "HELLO", "banner")
    checks.equal((hello["serial"], hello["test_mode"]), (SERIAL, 1), "HELLO", "serial and test mode")

    checks.equal(host.call(spec.ID_TC_RESET, {"seed": 11}), {}, "TC_RESET", "response")
    checks.equal(host.refused(spec.ID_GET_STATUS), spec.E_UNAUTHORIZED, "GET_STATUS", "before login")
    checks.equal(host.login(spec.ROLE_CLINICIAN, b"clinician", forged=True), spec.E_UNAUTHORIZED,
                 "AUTH_RESPONSE", "a forged mac")
    checks.equal(host.login(spec.ROLE_CLINICIAN, b"clinician"), {"role": spec.ROLE_CLINICIAN},
                 "AUTH_RESPONSE", "clinician login")

    refill = host.call(spec.ID_REFILL, {"drug": spec.DRUG_MORPHINE, "concentration_ug_per_ml": MORPHINE_UG_PER_ML,
                                        "volume_added_ul": 20000})
    checks.equal(refill and refill["reservoir_ul"], 20000, "REFILL", "reservoir")
    program = host.call(spec.ID_PROGRAM_PRESCRIPTION, {"overrides": [], "prescription": PRESCRIPTION})
    checks.equal(program and program["findings"], [], "PROGRAM_PRESCRIPTION", "findings")
    checks.equal(host.call(spec.ID_GET_PRESCRIPTION)["prescription"], PRESCRIPTION, "GET_PRESCRIPTION",
                 "the prescription read back")

    status = host.call(spec.ID_GET_STATUS)
    checks.equal((status["therapy_state"], status["mode"], status["role"]),
                 (spec.STATE_RUNNING, spec.MODE_SIMPLE_CONTINUOUS, spec.ROLE_CLINICIAN), "GET_STATUS", "state")
    # 3,000 µg/day of 20,000 µg/mL is 150 µL/day: integer arithmetic, the same on every platform
    checks.equal((status["basal_rate_ug_per_day"], status["basal_rate_ul_per_day"]), (3000, 150),
                 "GET_STATUS", "basal rates")

    bolus = host.call(spec.ID_PTM_BOLUS)
    checks.equal(bolus and (bolus["dose_ug"], bolus["activations_24h"]), (200, 1), "PTM_BOLUS", "first bolus")
    bolus_seq, bolus_answer = host.seq, host.last_wire
    checks.equal(host.refused(spec.ID_PTM_BOLUS), spec.E_LOCKOUT_ACTIVE, "PTM_BOLUS", "inside the lockout")
    host.call(spec.ID_PTM_BOLUS, seq=bolus_seq)  # a retransmission: answered from the cache
    checks.equal(host.last_wire, bolus_answer, "PTM_BOLUS", "the retransmission's answer")

    host.now_ms += HOUR_MS
    host.pump.poll(host.now_ms)
    status = host.call(spec.ID_GET_STATUS)
    # basal moves in whole µL (6 of the 6.25 µL an hour is 120 µg), so allow for that rounding
    delivered = status["delivered_24h_ug"]
    checks.check(200 + 100 <= delivered <= 200 + 3000 // 24, "GET_STATUS",
                 "an hour of basal and the bolus: delivered_24h_ug %d" % delivered)
    counters = host.call(spec.ID_TC_READ_COUNTERS)
    checks.equal((counters["boluses_delivered"], counters["dedup_hits"]), (1, 1), "TC_READ_COUNTERS",
                 "one bolus delivered, one retransmission answered from the cache")

    log = host.call(spec.ID_READ_LOG, {"start_index": 0, "max_entries": 12})
    kinds = [entry["kind"] for entry in log["entries"]]
    for kind, what in ((spec.LOG_REFILL, "refill"), (spec.LOG_PROGRAM, "program"), (spec.LOG_BOLUS, "bolus"),
                       (spec.LOG_PTM_REFUSED, "the refused bolus")):
        checks.check(kind in kinds, "READ_LOG", "no %s entry in %r" % (what, kinds))
    checks.equal([entry["index"] for entry in log["entries"]], list(range(len(kinds))), "READ_LOG", "indexes")
    # the refused bolus raised the informational PTM_LOCKOUT alarm, and nothing else happened
    checks.equal([(msg_id, body[0]) for msg_id, body in host.events], [(spec.ID_ALARM_RAISED, spec.AL_PTM_LOCKOUT)],
                 "events", "(event, alarm code) sent")


def main():
    checks = Checks("clinic session against firmware_mock.core.Pump")
    scenario(checks)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
