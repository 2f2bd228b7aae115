"""Oracles: rules a correct programmer keeps, checked on the wire after a test.

Switch them on for a test or module with `@pytest.mark.pump_oracles("dose_limits", "alarms",
"exactly_once")`, or for a whole suite with `pump_oracles = dose_limits alarms exactly_once` in
the ini file. Each oracle reads the decoded frames (harness.wire entries) and returns
violations: sentences that say what the programmer did wrong, in the pump's units.

The limits are recomputed here from the drug library in the catalog, independently of the
firmware, so a bug shared by both cannot hide. What each rule guards against:

dose_limits
  - every request that carries a dose, a concentration, a volume or a schedule (VALIDATE and
    PROGRAM_PRESCRIPTION, REFILL, CLINICIAN_BOLUS) stays inside the drug library's hard limits and
    the pump's own range: an app that leans on the pump to refuse an overdose has no second line
    when a board, a firmware version or a unit conversion differs;
  - a FLEX schedule is well formed (steps start at minute 0, in order, inside the day) and no step
    runs above the drug's hard daily rate: a step an hour long at 10x the rate is an overdose even
    when the daily total looks right;
  - overrides answer findings the pump showed; the drug and concentration of every prescription
    sent, to validate or to program, are the reservoir's as the pump last reported it (a stale or
    mistyped concentration makes every volume rate wrong; an app that leaves it to the pump's
    CONCENTRATION_MISMATCH has no check of its own);
  - a clinician bolus fits the programmed prescription's daily maximum;
  - a bolus the pump refused is not asked for again under a new seq in the same session (a new
    HELLO is a new command): an app that retries a BUSY or a lockout on its own delivers a dose
    at a moment nobody confirmed (a refused login, UNAUTHORIZED or WRONG_ROLE, may be retried).
alarms
  - standing alarms are learnt from every answer that lists them (GET_STATUS's active alarms,
    GET_ALARMS) as well as from events: an app that only listens for events misses an alarm that
    was raised while it was away;
  - an alarm is acknowledged once the pump accepted an ACK_ALARM for it (its RESPONSE, or
    NO_SUCH_ALARM: nothing left to acknowledge), not when one was sent: one refused (a login that
    lapsed, BUSY) or never answered leaves the alarm standing, and trying again after it is no
    second acknowledgement (re-sent under a new seq while unanswered is exactly_once's rule; both
    oracles pair an answer with its request alike);
  - no therapy change while a high-priority alarm stands unacknowledged (no accepted ACK_ALARM
    for it): an app whose acknowledgement was refused has not dealt with the alarm;
  - every alarm event ACKed on the link; every HIGH and MEDIUM instance acknowledged in time (an
    ACK_ALARM sent within the deadline: a refusal the app reports is the pump's answer, and one
    it reports as done is outcome()'s finding);
  - an instance is acknowledged once in a host session (HELLO's host_session_id), and only one the
    pump reported (blind ACKs hide alarms). Within a session the app had the pump's yes, so a
    second ACK_ALARM under a new seq after an accepted one is an alarm taken for a new one (a
    re-announcement). In a later session it is not judged: the alarm list does not say which
    alarms were acknowledged, so an app run once per command acknowledges what is listed, and the
    pump's NO_SUCH_ALARM ("no alarm with that code and instance needs acknowledging") changes
    nothing and hides nothing.
exactly_once
  - no state-changing request re-sent under a new seq while the first was unanswered (if only
    the answer was lost, it executes twice); an answer is the first RESPONSE or NAK with the
    request's msg_id and seq after it (_answers), as the alarms oracle takes it;
  - a seq is never reused for a different request (the pump refuses it, and an app that does this
    cannot retransmit safely).

Two more checks take what the app said about a run, so a suite calls them per run of its app
(examples/tests/conftest.py does, for every run):
outcome(wire_of_the_run, succeeded)
  - an app that reports success (exit 0) had the pump's yes to the last try of every
    state-changing request: an alarm believed acknowledged, a refill believed done, was not.
shown(app_output, wire)
  - every alarm the app shows (priority, latching, raise time) and every log entry (kind, time,
    values) is what the pump said: a display slip shows a calm LOW for a HIGH.
  - every number the app prints under a name with a unit (reservoir_ul, days_to_empty, dose_mg,
    ptm_lockout_h: the wire's units or mg, mL, h, min converted exactly) is a value that name had
    on the wire in the run: a dose shown in µg as mg, a volume shown for a dose, a lockout in
    the wrong unit is a number the clinician confirms or records and the pump never held.
  - every amount written in mg, mg/day, mg/mL or mL in any line, free text too (a prompt, a
    refusal, a note: "limit 10 mg/day"), is a value of that unit the run had: on the wire, in
    a finding, in the drug library for a drug it named, or typed on the app's command line. A
    whole number that lost its zeros ("limit 1 mg/day") is a tenfold error the clinician reads.
"""

from pumpmock.protocol.catalog import MESSAGES_BY_NAME
from pumpmock.protocol.codes import (ALARM_PRIORITY, Alarm, DRUG_LIBRARY, Drug, Error, LogKind, PUMP_LIMITS, Priority,
                                     TherapyMode)

# Requests that change therapy and must wait for a standing high-priority alarm to be acknowledged.
# REFILL and SUSPEND are how a clinician deals with an alarm, so they are allowed.
THERAPY_CHANGES = {"PROGRAM_PRESCRIPTION", "CLINICIAN_BOLUS", "PTM_BOLUS", "RESUME"}
STATE_CHANGING = {name for name, message in MESSAGES_BY_NAME.items() if message.state_changing}
BOLUSES = ("CLINICIAN_BOLUS", "PTM_BOLUS")
# A bolus refused for these may be asked for again: a login that had lapsed, not the dose itself.
RETRYABLE_REFUSALS = {Error.UNAUTHORIZED, Error.WRONG_ROLE}
# Refusals that say the request's purpose already holds: an alarm acknowledged before, or gone.
ALREADY_SO = {("ACK_ALARM", Error.NO_SUCH_ALARM)}


def _name(enum, value):
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def basal_daily_dose_ug(rx):
    """Basal µg per day of a prescription (JSON form): SIMPLE's dose, or FLEX's steps integrated."""
    if rx["mode"] != TherapyMode.FLEX:
        return rx["daily_dose_ug"]
    steps = rx["steps"]
    total = 0
    for i, step in enumerate(steps):
        end_min = steps[i + 1]["start_min"] if i + 1 < len(steps) else 1440
        total += step["dose_rate_ug_per_day"] * max(end_min - step["start_min"], 0)
    return total // 1440


def hard_limit_breaches(rx):
    """[(what, actual, limit)] for every hard limit a prescription breaks."""
    drug = DRUG_LIBRARY.get(rx["drug"]) if rx["drug"] in Drug._value2member_map_ else None
    if drug is None:
        return [("drug code %d is not in the drug library" % rx["drug"], rx["drug"], 0)]
    out = []
    concentration = rx["concentration_ug_per_ml"]
    if concentration > drug.max_concentration_ug_per_ml:
        out.append(("concentration µg/mL above %s's maximum" % drug.drug.name, concentration,
                    drug.max_concentration_ug_per_ml))
    basal = basal_daily_dose_ug(rx)
    if basal > drug.hard_max_ug_per_day:
        out.append(("daily dose µg above %s's hard maximum" % drug.drug.name, basal, drug.hard_max_ug_per_day))
    if rx["max_daily_dose_ug"] > drug.hard_max_ug_per_day:
        out.append(("maximum daily dose µg above %s's hard maximum" % drug.drug.name, rx["max_daily_dose_ug"],
                    drug.hard_max_ug_per_day))
    if rx["ptm_dose_ug"] > drug.soft_max_ug_per_day:
        out.append(("PTM dose µg above %s's daily soft maximum" % drug.drug.name, rx["ptm_dose_ug"],
                    drug.soft_max_ug_per_day))
    if concentration > 0:
        rates = [rx["daily_dose_ug"]] if rx["mode"] != TherapyMode.FLEX else \
            [s["dose_rate_ug_per_day"] for s in rx["steps"]]
        for rate in rates:
            volume = rate * 1000 // concentration
            if volume < PUMP_LIMITS["rate_min_ul_per_day"]:
                out.append(("volume rate µL/day below the pump's minimum", volume, PUMP_LIMITS["rate_min_ul_per_day"]))
            elif volume > PUMP_LIMITS["rate_max_ul_per_day"]:
                out.append(("volume rate µL/day above the pump's maximum", volume, PUMP_LIMITS["rate_max_ul_per_day"]))
    return out


def schedule_problems(rx):
    """[sentence] for a FLEX schedule that is not well formed or has a step above the hard rate."""
    if rx["mode"] != TherapyMode.FLEX:
        return []
    steps = rx["steps"]
    if not steps:
        return ["a FLEX schedule with no steps"]
    out = []
    if steps[0]["start_min"] != 0:
        out.append("a FLEX schedule whose first step starts at minute %d, not 0" % steps[0]["start_min"])
    for before, after in zip(steps, steps[1:]):
        if after["start_min"] <= before["start_min"]:
            out.append("FLEX steps out of order (minute %d after minute %d)" % (after["start_min"], before["start_min"]))
    drug = DRUG_LIBRARY.get(rx["drug"]) if rx["drug"] in Drug._value2member_map_ else None
    if drug is not None:
        for step in steps:
            if step["dose_rate_ug_per_day"] > drug.hard_max_ug_per_day:
                out.append("the FLEX step at minute %d runs at %d µg/day, above %s's hard maximum of %d µg/day"
                           % (step["start_min"], step["dose_rate_ug_per_day"], drug.drug.name,
                              drug.hard_max_ug_per_day))
    return out


def _refill_problems(fields, capacity_ul):
    drug_code = fields["drug"]
    if drug_code not in Drug._value2member_map_ or Drug(drug_code) not in DRUG_LIBRARY:
        return ["drug code %d, which is not in the drug library" % drug_code]
    drug = DRUG_LIBRARY[Drug(drug_code)]
    out = []
    if fields["concentration_ug_per_ml"] > drug.max_concentration_ug_per_ml:
        out.append("%d µg/mL of %s, above its maximum concentration of %d µg/mL"
                   % (fields["concentration_ug_per_ml"], drug.drug.name, drug.max_concentration_ug_per_ml))
    if fields["volume_added_ul"] > capacity_ul:
        out.append("%d µL, more than the reservoir's capacity of %d µL" % (fields["volume_added_ul"], capacity_ul))
    return out


def dose_limits(wire):
    """No hard limit sent on any request that carries a dose, concentration, volume or schedule;
    overrides only for findings the programmer was shown; units and concentrations consistent
    with the drug library and the last refill (see the module's docstring for each hazard)."""
    violations = []
    reservoir = None  # (drug, concentration) the pump holds, as last learned from the wire
    shown = set()  # soft limit codes the pump reported to the programmer (VALIDATE, NAK)
    capacity_ul = PUMP_LIMITS["capacity_ul"]
    daily_max_ug = None  # the programmed prescription's max_daily_dose_ug, as last learned
    refused = {}  # (bolus name, its fields as text) -> refusal code, since the last HELLO
    for entry in wire:
        fields, name = entry["fields"], entry["name"]
        if fields is None:
            continue
        if entry["dir"] == "host>pump" and entry["kind"] == "REQUEST":
            if name == "HELLO":
                refused = {}  # a new session: a new command, asked for again
            elif name in BOLUSES and refused.get((name, repr(fields))) is not None:
                violations.append("app asked for the %s the pump refused (%s) again on its own, under a new "
                                  "sequence number (seq %d): a dose nobody confirmed at this moment"
                                  % (name, refused[(name, repr(fields))], entry["seq"]))
                refused[(name, repr(fields))] = None  # once per refusal is enough
        elif entry["dir"] == "pump>host" and entry["kind"] == "NAK" and name in BOLUSES:
            request = _request_for(wire, entry)
            if request is not None and fields["code"] not in RETRYABLE_REFUSALS:
                refused[(name, repr(request["fields"]))] = _name(Error, fields["code"])
        if entry["dir"] == "pump>host":
            if entry["kind"] == "RESPONSE" and name in ("HELLO",) and fields.get("capacity_ul"):
                capacity_ul = fields["capacity_ul"]
            if entry["kind"] == "RESPONSE" and name in ("GET_PRESCRIPTION", "TC_GET_PRESCRIPTION"):
                daily_max_ug = fields["prescription"]["max_daily_dose_ug"] or daily_max_ug
            if entry["kind"] == "RESPONSE" and name == "PROGRAM_PRESCRIPTION":
                request = _request_for(wire, entry)
                if request is not None:
                    daily_max_ug = request["fields"]["prescription"]["max_daily_dose_ug"]
            if entry["kind"] == "RESPONSE" and name in ("GET_STATUS", "TC_GET_STATUS"):
                reservoir = (fields["drug"], fields["concentration_ug_per_ml"])
                capacity_ul = fields["capacity_ul"] or capacity_ul
            elif entry["kind"] == "RESPONSE" and name == "VALIDATE_PRESCRIPTION":
                shown.update(f["limit"] for f in fields["findings"])
            elif entry["kind"] == "NAK":
                shown.add(fields["subject"])
            elif entry["kind"] == "RESPONSE" and name == "REFILL":
                request = _request_for(wire, entry)
                if request is not None:
                    reservoir = (request["fields"]["drug"], request["fields"]["concentration_ug_per_ml"])
            continue
        if entry["kind"] != "REQUEST":
            continue
        if name in ("PROGRAM_PRESCRIPTION", "VALIDATE_PRESCRIPTION"):
            rx = fields["prescription"]
            for what, actual, limit in hard_limit_breaches(rx):
                violations.append("app sent a prescription above the hard limit: %s seq %d has %s (%d > %d); "
                                  "it must refuse it before anything reaches the pump" % (name, entry["seq"], what,
                                                                                          actual, limit)
                                  if actual > limit else
                                  "app sent a prescription outside the pump's limits: %s seq %d has %s (%d < %d)"
                                  % (name, entry["seq"], what, actual, limit))
            for problem in schedule_problems(rx):
                violations.append("app sent %s (seq %d) with %s" % (name, entry["seq"], problem))
            basal = basal_daily_dose_ug(rx)
            if rx["max_daily_dose_ug"] and rx["max_daily_dose_ug"] < basal:
                violations.append("app sent %s (seq %d) whose maximum daily dose %d µg is below its own basal "
                                  "dose of %d µg/day" % (name, entry["seq"], rx["max_daily_dose_ug"], basal))
            # Validating is sending too: a prescription for what the reservoir does not hold is the
            # app's to refuse, not the pump's (the pump's CONCENTRATION_MISMATCH is a second line).
            did = "programmed" if name == "PROGRAM_PRESCRIPTION" else "sent to validate"
            if reservoir is not None and reservoir[0] != 0:
                if rx["drug"] != reservoir[0]:
                    violations.append("app %s %s while the reservoir holds %s (%s seq %d)"
                                      % (did, _name(Drug, rx["drug"]), _name(Drug, reservoir[0]), name, entry["seq"]))
                elif rx["concentration_ug_per_ml"] != reservoir[1]:
                    violations.append("app %s concentration %d µg/mL but the reservoir holds %d µg/mL "
                                      "since the last refill: every volume rate is wrong (%s seq %d)"
                                      % (did, rx["concentration_ug_per_ml"], reservoir[1], name, entry["seq"]))
            if name == "VALIDATE_PRESCRIPTION":
                continue
            unseen = [o for o in fields["overrides"] if o not in shown]
            if unseen:
                violations.append("app overrode soft limit(s) %s that the pump never reported to it "
                                  "(PROGRAM_PRESCRIPTION seq %d): overrides must answer shown findings"
                                  % (", ".join(_limit_name(o) for o in unseen), entry["seq"]))
        elif name == "REFILL":
            for problem in _refill_problems(fields, capacity_ul):
                violations.append("app sent a refill of %s (REFILL seq %d): the drug library or the reservoir "
                                  "forbids it" % (problem, entry["seq"]))
        elif name == "CLINICIAN_BOLUS":
            if reservoir is not None and reservoir[0] in Drug._value2member_map_ and reservoir[0] != 0:
                limit = DRUG_LIBRARY[Drug(reservoir[0])].hard_max_ug_per_day
                if fields["dose_ug"] > limit:
                    violations.append("app sent a bolus above the hard limit: CLINICIAN_BOLUS seq %d of %d µg "
                                      "exceeds %s's %d µg/day" % (entry["seq"], fields["dose_ug"],
                                                                  _name(Drug, reservoir[0]), limit))
            if daily_max_ug and fields["dose_ug"] > daily_max_ug:
                violations.append("app sent a bolus of %d µg (CLINICIAN_BOLUS seq %d), more than the "
                                  "prescription's maximum daily dose of %d µg" % (fields["dose_ug"], entry["seq"],
                                                                                 daily_max_ug))
    return violations


def _limit_name(code):
    from pumpmock.protocol.codes import Limit
    return _name(Limit, code)


def _request_for(wire, answer):
    """The latest request an answer belongs to (same msg_id and seq, sent before it)."""
    found = None
    for entry in wire:
        if entry["dir"] == "host>pump" and entry["kind"] == "REQUEST" and entry["seq"] == answer["seq"] \
                and entry["msg_id"] == answer["msg_id"] and entry["t"] <= answer["t"]:
            found = entry
    return found


def _answers(wire):
    """request index -> index of its answer, for every request the pump answered: the first RESPONSE
    or NAK after it with the same msg_id and seq (a retransmission, the same seq again, shares the
    first's answer). exactly_once and alarms both judge "answered" by this."""
    pending, out = {}, {}  # (msg_id, seq) -> indices of requests still waiting for an answer
    for index, entry in enumerate(wire):
        if entry["dir"] == "host>pump" and entry["kind"] == "REQUEST":
            pending.setdefault((entry["msg_id"], entry["seq"]), []).append(index)
        elif entry["dir"] == "pump>host" and entry["kind"] in ("RESPONSE", "NAK"):
            for request in pending.pop((entry["msg_id"], entry["seq"]), ()):
                out[request] = index
    return out


def _ack_accepted(answer):
    """An ACK_ALARM's answer says the alarm needs no more acknowledging: a RESPONSE, or the pump's
    NO_SUCH_ALARM (acknowledged before, or gone: ALREADY_SO). Any other refusal leaves it standing."""
    if answer["kind"] == "RESPONSE":
        return True
    return bool(answer["fields"]) and ("ACK_ALARM", answer["fields"]["code"]) in ALREADY_SO


def alarms(wire, deadline_s=60.0, priorities=(Priority.HIGH, Priority.MEDIUM)):
    """Every alarm event ACKed at link level; every HIGH/MEDIUM alarm instance acknowledged with
    ACK_ALARM within deadline_s (sent in time); no therapy change while a HIGH alarm stands
    unacknowledged, as learnt from events, GET_ALARMS and GET_STATUS alike; an instance
    acknowledged once in a host session, and only one the pump reported (a re-announcement is not
    a new alarm). An acknowledgement counts once the pump accepted it (_ack_accepted: a RESPONSE,
    or NO_SUCH_ALARM, which outcome() takes as done too: ALREADY_SO); one refused otherwise or
    never answered does not, so it neither lets therapy change nor makes a retry a second one.
    Acknowledged again in a later session is no violation: the alarm list does not say it was
    acknowledged, and the pump refuses it NO_SUCH_ALARM, which changes nothing."""
    violations = []
    raised = {}  # (code, instance) -> t first reported (event or alarm list)
    announced = {}  # (code, instance) -> t of its first ALARM_RAISED: the pump's call to acknowledge it
    announcements = {}  # (code, instance) -> ALARM_RAISED events seen (a re-announcement repeats it)
    # An acknowledgement counts once the pump accepted it (_ack_accepted), not when it was sent: a
    # refused one (a lapsed login, BUSY) leaves the alarm standing, and one never answered may not
    # have reached the pump. Trying again after either is no second acknowledgement (re-sent under a
    # new seq while unanswered is exactly_once's rule; both pair answers by _answers).
    acked = set()  # (code, instance) the pump accepted an ACK_ALARM for
    acked_in = {}  # (code, instance) -> (host_session_id, seq) of its first accepted ACK_ALARM in its latest session
    ack_sent = {}  # index of an ACK_ALARM request -> ((code, instance), host_session_id, seq), until answered
    session = None  # the last HELLO's host_session_id: what the app knows, it knows within one session
    cleared = set()
    listed_codes = set()  # codes GET_STATUS last listed as active (it gives no instance)
    link_acks = {(e["msg_id"], e["seq"]) for e in wire if e["dir"] == "host>pump" and e["kind"] == "ACK"}
    unacked = set()
    # An event after the app's last frame of its session (before its next HELLO, or the end) may
    # have reached an app already closing its port: the pump re-sends each event for 2.5 s, into
    # whatever runs next. It is judged only when the app said something after it in that session.
    wire = list(wire)
    answering = {}  # index of an answer -> indices of the requests it answers
    for request, answer in _answers(wire).items():
        answering.setdefault(answer, []).append(request)
    heard_after, heard = [False] * len(wire), False
    for index in range(len(wire) - 1, -1, -1):
        heard_after[index] = heard
        entry = wire[index]
        if entry["dir"] == "host>pump":
            heard = entry["name"] != "HELLO"
    for index, entry in enumerate(wire):
        fields, name = entry["fields"], entry["name"]
        if fields is None:
            continue
        if entry["dir"] == "pump>host" and entry["kind"] == "EVENT" and not heard_after[index]:
            continue
        for request in answering.get(index, ()):
            sent = ack_sent.pop(request, None)
            if sent is not None and _ack_accepted(entry):
                key, in_session, seq = sent
                acked.add(key)
                listed_codes.discard(key[0])
                earlier = acked_in.get(key)
                if earlier is None or earlier[0] != in_session:
                    acked_in[key] = (in_session, seq)
        if entry["dir"] == "pump>host" and entry["kind"] == "EVENT":
            if (entry["msg_id"], entry["seq"]) not in link_acks and (entry["msg_id"], entry["seq"]) not in unacked:
                unacked.add((entry["msg_id"], entry["seq"]))  # once per event, however often it was re-sent
                violations.append("app never ACKed event %s seq %d: the pump keeps re-sending it"
                                  % (name, entry["seq"]))
            key = (fields["code"], fields["instance"])
            if name == "ALARM_RAISED":
                raised.setdefault(key, entry["t"])
                announced.setdefault(key, entry["t"])
                announcements[key] = announcements.get(key, 0) + 1
            elif name == "ALARM_CLEARED":
                cleared.add(key)
        elif entry["dir"] == "pump>host" and entry["kind"] == "RESPONSE":
            if name in ("GET_ALARMS", "TC_GET_ALARMS"):
                for alarm in fields["alarms"]:
                    raised.setdefault((alarm["code"], alarm["instance"]), entry["t"])
            elif name in ("GET_STATUS", "TC_GET_STATUS"):
                listed_codes = {alarm if isinstance(alarm, int) else alarm["code"] for alarm in fields["active_alarms"]}
        elif entry["dir"] == "host>pump" and entry["kind"] == "REQUEST":
            if name == "HELLO":
                session = fields["host_session_id"]
            elif name == "ACK_ALARM":
                key = (fields["code"], fields["instance"])
                earlier = acked_in.get(key)
                if key not in raised:
                    violations.append("app acknowledged alarm %s instance %d, which the pump never reported to "
                                      "it (ACK_ALARM seq %d): acknowledging blindly hides alarms nobody read"
                                      % (_name(Alarm, key[0]), key[1], entry["seq"]))
                elif earlier is not None and earlier[0] == session and earlier[1] != entry["seq"]:
                    if announcements.get(key, 0) > 1:
                        violations.append("app acknowledged alarm %s instance %d twice: it treated a re-announced "
                                          "alarm as a new one" % (_name(Alarm, key[0]), key[1]))
                    else:
                        violations.append("app acknowledged alarm %s instance %d twice (ACK_ALARM seq %d, then "
                                          "seq %d)" % (_name(Alarm, key[0]), key[1], earlier[1], entry["seq"]))
                ack_sent[index] = (key, session, entry["seq"])
            elif name in THERAPY_CHANGES:
                standing = [k for k in raised if k not in acked and k not in cleared
                            and ALARM_PRIORITY.get(k[0]) == Priority.HIGH]
                for code, instance in standing:
                    violations.append("app sent %s (seq %d) while high-priority alarm %s instance %d stood "
                                      "unacknowledged" % (name, entry["seq"], _name(Alarm, code), instance))
                known = {code for code, _instance in standing}
                for code in sorted(listed_codes - known):
                    if ALARM_PRIORITY.get(code) == Priority.HIGH and not any(
                            k[0] == code and (k in acked or k in cleared) for k in raised):
                        violations.append("app sent %s (seq %d) while the pump's status listed high-priority "
                                          "alarm %s as active and the app had not acknowledged it"
                                          % (name, entry["seq"], _name(Alarm, code)))
    # The deadline runs from the announcement: reading an alarm list is not a call to acknowledge.
    for key, t in announced.items():
        if ALARM_PRIORITY.get(key[0]) not in priorities:
            continue
        ack = next((e for e in wire if e["dir"] == "host>pump" and e["name"] == "ACK_ALARM"
                    and e["fields"] and (e["fields"]["code"], e["fields"]["instance"]) == key), None)
        if ack is None:
            violations.append("alarm %s instance %d was never acknowledged" % (_name(Alarm, key[0]), key[1]))
        elif ack["t"] - t > deadline_s:
            violations.append("alarm %s instance %d was acknowledged after %.1f s (deadline %.1f s)"
                              % (_name(Alarm, key[0]), key[1], ack["t"] - t, deadline_s))
    return violations


# Past this many requests since a seq was used, its next use is the 16-bit counter wrapping round.
SEQ_WRAP_DISTANCE = 0x8000


def exactly_once(wire):
    """No state-changing request re-sent under a new seq while the earlier one was unanswered (no
    answer paired with it by _answers before the later one was sent); within one host session (HELLO's host_session_id) no seq reused for a request with other content."""
    wire = list(wire)
    violations = _seqs_reused(wire)
    requests = [(index, e) for index, e in enumerate(wire) if e["dir"] == "host>pump" and e["kind"] == "REQUEST"
                and e["name"] in STATE_CHANGING]
    answer_of = _answers(wire)  # the same pairing the alarms oracle takes an acknowledgement's answer by
    for i, (index, first) in enumerate(requests):
        answered_at = answer_of.get(index)
        for later_index, later in requests[i + 1:]:
            if later["msg_id"] != first["msg_id"] or later["seq"] == first["seq"] \
                    or later["fields"] != first["fields"]:
                continue
            if answered_at is None or answered_at > later_index:
                violations.append("%s re-sent under a new sequence number (seq %d, then seq %d) while the "
                                  "first was unanswered: if only the answer was lost, it executes twice"
                                  % (first["name"], first["seq"], later["seq"]))
            break
    return violations


def _seqs_reused(wire):
    """A seq names one request in a host session: the same seq again is a retransmission and repeats
    the same bytes. Hazard: different content under a used seq is refused SEQUENCE_REUSED (the pump's
    exactly-once cache holds the first, answered or refused), so the second request, an alarm
    acknowledgement, a bolus, never happens; read-only ones pass, but the app's retransmissions are
    no longer safe. The session is the last HELLO's id: under a new id seqs start from scratch."""
    violations = []
    session = None
    used = {}  # (host_session_id, seq) -> (the last request under it, its number in the session)
    counted = {}  # host_session_id -> requests sent in it so far
    for entry in wire:
        if entry["dir"] != "host>pump" or entry["kind"] != "REQUEST":
            continue
        if entry["name"] == "HELLO" and entry["fields"]:
            session = entry["fields"]["host_session_id"]
        number = counted.get(session, 0)
        counted[session] = number + 1
        earlier = used.get((session, entry["seq"]))
        used[(session, entry["seq"])] = (entry, number)
        if earlier is None or earlier[0]["wire"] == entry["wire"] or number - earlier[1] >= SEQ_WRAP_DISTANCE:
            continue
        violations.append("app reused seq %d for %s after %s in the same session (host_session_id %s): a seq "
                          "names one request, a retransmission repeats its bytes; the pump refuses a "
                          "state-changing one SEQUENCE_REUSED, and it never happens"
                          % (entry["seq"], entry["name"] or "msg 0x%02x" % entry["msg_id"],
                             earlier[0]["name"] if earlier[0]["name"] != entry["name"]
                             else "a different " + entry["name"], session))
    return violations


def outcome(wire, succeeded):
    """What one run of the app said about itself against what the pump answered: an app that reports
    success (exit status 0, `succeeded`) had the pump's yes to the last try of every state-changing
    request it sent. `wire` holds that run's entries only (everything since it started).

    Hazard: an acknowledgement, a refill or a bolus the pump refused or never answered, reported
    to the clinician as done (an alarm believed silenced, a reservoir believed full)."""
    if not succeeded:
        return []
    entries = list(wire)
    last = {}  # name -> the last request of that kind the app sent
    for entry in entries:
        if entry["dir"] == "host>pump" and entry["kind"] == "REQUEST" and entry["name"] in STATE_CHANGING:
            last[entry["name"]] = entry
    violations = []
    for name, request in sorted(last.items(), key=lambda item: item[1]["t"]):
        answers = [e for e in entries if e["dir"] == "pump>host" and e["kind"] in ("RESPONSE", "NAK")
                   and e["msg_id"] == request["msg_id"] and e["seq"] == request["seq"]]
        if not answers:
            violations.append("app reported success (exit 0) though the pump never answered its %s (seq %d): "
                              "it cannot know the %s happened" % (name, request["seq"], name))
        elif all(a["kind"] == "NAK" for a in answers):
            code = answers[-1]["fields"]["code"] if answers[-1]["fields"] else None
            if (name, code) in ALREADY_SO:
                continue
            violations.append("app reported success (exit 0) though the pump refused its %s (seq %d, %s)"
                              % (name, request["seq"], _name(Error, code) if code is not None else "NAK"))
    return violations


def shown(text, wire, typed=()):
    """What the app printed against what the pump said: every alarm it shows (its priority,
    latching, raise time) and every log entry it shows (its kind, time and values) must be the
    pump's. `text` is the app's output (stdout or stderr); JSON documents or JSON lines are read
    for those. Names are compared as the catalog spells them (MOTOR_STALL, HIGH, REFILL). Every
    amount written in the clinician's units in any line, JSON or free text ("limit 10 mg/day",
    "20 mg/mL", "a bolus of 10 mg"), is judged too (_amounts_shown); `typed` is the app's command
    line, whose amounts it may repeat (a prompt shows what is about to be sent).

    Hazard: a display or decoding slip (an enum off by one, a table in the wrong order) shows the
    clinician a calm LOW where the pump raised a HIGH, or an audit trail of other events."""
    alarms, log = {}, {}
    for entry in wire:
        fields = entry["fields"]
        if entry["dir"] != "pump>host" or not fields:
            continue
        if entry["kind"] == "EVENT" and entry["name"] == "ALARM_RAISED":
            alarms[(fields["code"], fields["instance"])] = fields
        elif entry["kind"] == "RESPONSE" and entry["name"] in ("GET_ALARMS", "TC_GET_ALARMS"):
            for alarm in fields["alarms"]:
                alarms[(alarm["code"], alarm["instance"])] = alarm
        elif entry["kind"] == "RESPONSE" and entry["name"] == "READ_LOG":
            for item in fields["entries"]:
                log[item["index"]] = item
    violations = []
    objects = _json_objects(text)
    for shown_item in objects:
        if isinstance(shown_item.get("alarm"), str) and isinstance(shown_item.get("instance"), int):
            violations += _alarm_shown(shown_item, alarms)
        elif isinstance(shown_item.get("kind"), str) and isinstance(shown_item.get("index"), int):
            violations += _log_entry_shown(shown_item, log)
    return violations + _numbers_shown(objects, wire) + _amounts_shown(text, wire, typed)


# Amounts as an app writes them in prose, in the clinician's units: (unit, dimension). A daily
# dose travels as µg (daily_dose_ug), so mg and mg/day are one dimension.
PROSE_UNITS = (("mg/day", "ug"), ("mg/mL", "ug_per_ml"), ("mg", "ug"), ("mL", "ul"))
PROSE_AMOUNT = None  # compiled on first use
# What a finding's (or a limit NAK's) values measure, by limit: the pump's units for each.
LIMIT_DIMENSIONS = {"CONCENTRATION_MAX": "ug_per_ml", "CONCENTRATION_MISMATCH": "ug_per_ml",
                    "DAILY_DOSE_SOFT": "ug", "DAILY_DOSE_HARD": "ug", "MAX_DAILY_SOFT": "ug",
                    "MAX_DAILY_HARD": "ug", "MAX_DAILY_BELOW_PLAN": "ug", "PTM_DOSE_MAX": "ug"}
# Command-line options by the unit typed in them ("--ptm-dose-mg 0.2"), as (suffix, dimension).
TYPED_UNITS = (("-mg-per-day", "ug"), ("-mg-per-ml", "ug_per_ml"), ("-mg", "ug"), ("-ml", "ul"))


def _dimension_of(name):
    """The wire unit a field's name ends in, as a dimension ("ug", "ug_per_ml", "ul"), or None."""
    if name.endswith(("_ug_per_ml",)):
        return "ug_per_ml"
    if name.endswith(("_ug", "_ug_per_day")):
        return "ug"
    if name.endswith(("_ul",)):
        return "ul"
    return None


def _amounts_known(wire, typed):
    """dimension -> every value (wire units) the app may show for it: what crossed the wire under a
    name in that unit, the values of findings and limit NAKs, the drug library's and the pump's
    limits (it may quote them), and the amounts typed on its command line."""
    from decimal import Decimal, InvalidOperation
    from pumpmock.protocol.codes import Limit
    known = {"ug": set(), "ug_per_ml": set(), "ul": set()}
    drugs = set()  # drugs the run named: only their library limits may be quoted

    def collect(value):
        if isinstance(value, dict):
            if isinstance(value.get("drug"), int):
                drugs.add(value["drug"])
            limit = value.get("limit", value.get("subject"))
            dimension = LIMIT_DIMENSIONS.get(_name(Limit, limit)) if isinstance(limit, int) else None
            for key, item in value.items():
                if isinstance(item, int) and not isinstance(item, bool):
                    if key in ("limit_value", "actual_value") and dimension:
                        known[dimension].add(Decimal(item))
                    elif _dimension_of(key):
                        known[_dimension_of(key)].add(Decimal(item))
                else:
                    collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    for entry in wire:
        if entry["fields"]:
            collect(entry["fields"])
    typed = list(typed)
    for option, value in zip(typed, typed[1:]):
        if option == "--drug" and str(value).strip().upper() in Drug.__members__:
            drugs.add(int(Drug[str(value).strip().upper()]))
    for drug in (DRUG_LIBRARY[Drug(code)] for code in drugs if code in Drug._value2member_map_
                 and Drug(code) in DRUG_LIBRARY):
        known["ug"].update(Decimal(v) for v in (drug.soft_max_ug_per_day, drug.hard_max_ug_per_day))
        known["ug_per_ml"].add(Decimal(drug.max_concentration_ug_per_ml))
    known["ul"].add(Decimal(PUMP_LIMITS["capacity_ul"]))
    for option, value in zip(typed, typed[1:]):
        option = str(option).split("=")[0]
        for suffix, dimension in TYPED_UNITS:
            if option.startswith("--") and option.endswith(suffix):
                try:
                    known[dimension].add(Decimal(str(value).strip()) * 1000)
                except InvalidOperation:
                    pass
                break
    return known


def _amounts_shown(text, wire, typed=()):
    """Every amount written in mg, mg/day, mg/mL or mL in any line of `text` is, in the wire's unit,
    a value of that dimension the run had (see _amounts_known). A number not standing alone (part
    of "0,2" or "1.5.3") is not read as an amount.

    Hazard: a display slip (whole numbers losing their zeros, a value from the wrong field) in a
    prompt, a refusal or a note: the clinician confirms "a bolus of 1 mg" while 10 mg are sent, or
    reads a limit a tenth of the truth."""
    import re
    from decimal import Decimal
    global PROSE_AMOUNT
    if PROSE_AMOUNT is None:
        units = "|".join(re.escape(unit) for unit, _dimension in PROSE_UNITS)
        PROSE_AMOUNT = re.compile(r"(?<![\w.,/-])(\d+(?:\.\d+)?)(?![\d.,]\d) ?(%s)(?![\w/])" % units)
    dimensions = dict(PROSE_UNITS)
    known, out, seen = None, [], set()
    for match in PROSE_AMOUNT.finditer(text):
        number, unit = match.group(1), match.group(2)
        if (number, unit) in seen:
            continue
        seen.add((number, unit))
        if known is None:
            known = _amounts_known(wire, typed)
        dimension = dimensions[unit]
        if Decimal(number) * 1000 in known[dimension]:
            continue
        line = text[text.rfind("\n", 0, match.start()) + 1:text.find("\n", match.end()) % (len(text) + 1)]
        out.append("app showed %s %s (%r), but no %s value in this run was %s: an amount shown with "
                   "lost or extra digits, or from the wrong field, is one the clinician confirms or records "
                   "and the pump never held" % (number, unit, line.strip()[:160], dimension.replace("_", " "),
                                                Decimal(number) * 1000))
    return out


# A number shown under a name with a unit is judged; the wire's own units first, then the
# clinician's, each as (suffix, wire suffix, factor to the wire unit).
WIRE_UNITS = ("_ug", "_ul", "_ug_per_ml", "_ug_per_day", "_ul_per_day", "_ms", "_s", "_min", "_days", "_pct",
              "_24h")
CLINICIAN_UNITS = (("_mg_per_ml", "_ug_per_ml", 1000), ("_mg_per_day", "_ug_per_day", 1000),
                   ("_ml_per_day", "_ul_per_day", 1000), ("_mg", "_ug", 1000), ("_ml", "_ul", 1000),
                   ("_h", "_min", 60), ("_h", "_s", 3600), ("_min", "_s", 60))


def _numbers_shown(objects, wire):
    """Every number the app printed under a name with a unit (reservoir_ul, dose_mg, ptm_lockout_h)
    against what crossed the wire under that name, in the wire's unit: the pump's answers and
    events, and the app's own requests (it may show what it asked for). A name nothing on the wire
    carried is not judged; a shown number must be one of the values its name had."""
    said = {}  # wire field name -> every value it had in this run, either direction
    for entry in wire:
        if entry["fields"]:
            _collect_numbers(entry["fields"], said)
    out, seen = [], set()
    for item in objects:
        for key, value in item.items():
            number = _number(value)
            if number is None:
                continue
            candidates = [(key, number)] if key.endswith(WIRE_UNITS) or key.startswith("days_") else []
            candidates += [(key[:-len(suffix)] + wire_suffix, number * factor)
                           for suffix, wire_suffix, factor in CLINICIAN_UNITS if key.endswith(suffix)]
            known = [(name, wire_value) for name, wire_value in candidates if name in said]
            if not known or any(wire_value in said[name] for name, wire_value in known) or (key, value) in seen:
                continue
            seen.add((key, value))
            name = known[0][0]
            out.append("app showed %s %s; on the wire %s was %s: a number shown in the wrong unit or from "
                       "the wrong field is one the clinician confirms or records and the pump never held"
                       % (key, value, name, " or ".join(str(v) for v in sorted(said[name]))))
    return out


def _collect_numbers(value, said):
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, int) and not isinstance(item, bool):
                said.setdefault(key, set()).add(item)
            else:
                _collect_numbers(item, said)
    elif isinstance(value, list):
        for item in value:
            _collect_numbers(item, said)


def _number(value):
    """A shown number as an exact Decimal (ints, and decimal strings such as "0.25"), else None."""
    from decimal import Decimal, InvalidOperation
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and value.strip() and value.strip()[0] in "+-.0123456789":
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _alarm_shown(item, alarms):
    code = Alarm.__members__.get(item["alarm"])
    said = alarms.get((int(code), item["instance"])) if code is not None else None
    if said is None:
        return ["app showed alarm %s instance %d, which the pump never reported" % (item["alarm"], item["instance"])]
    out = []
    if isinstance(item.get("priority"), str) and item["priority"] != _name(Priority, said["priority"]):
        out.append("app showed alarm %s instance %d as %s priority; the pump raised it as %s"
                   % (item["alarm"], item["instance"], item["priority"], _name(Priority, said["priority"])))
    if isinstance(item.get("latching"), bool) and item["latching"] != bool(said["latching"]):
        out.append("app showed alarm %s instance %d as %slatching; the pump said %slatching"
                   % (item["alarm"], item["instance"], "" if item["latching"] else "non-",
                      "" if said["latching"] else "non-"))
    if isinstance(item.get("raised_s"), int) and item["raised_s"] != said["raised_s"]:
        out.append("app showed alarm %s instance %d raised at %d s; the pump said %d s"
                   % (item["alarm"], item["instance"], item["raised_s"], said["raised_s"]))
    return out


def _log_entry_shown(item, log):
    said = log.get(item["index"])
    if said is None:
        return []  # not a log entry the pump sent in this test (or not a log entry at all)
    out = []
    if item["kind"] != _name(LogKind, said["kind"]):
        out.append("app showed log entry %d as %s; the pump logged %s" % (item["index"], item["kind"],
                                                                        _name(LogKind, said["kind"])))
    for key in ("clock_s", "value", "value2"):
        if isinstance(item.get(key), int) and item[key] != said[key]:
            out.append("app showed log entry %d with %s %d; the pump logged %d" % (item["index"], key, item[key],
                                                                                 said[key]))
    return out


def _json_objects(text):
    """Every JSON object in `text` (one document, or one per line), nested ones included."""
    import json
    documents = []
    try:
        documents.append(json.loads(text))
    except ValueError:
        for line in text.splitlines():
            try:
                documents.append(json.loads(line))
            except ValueError:
                continue
    stack, out = documents, []
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            out.append(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return out


ORACLES = {"dose_limits": dose_limits, "alarms": alarms, "exactly_once": exactly_once}


def check(wire, names, **options):
    """Violations of the named oracles, each prefixed with its oracle's name."""
    unknown = set(names) - set(ORACLES)
    if unknown:
        raise ValueError("unknown pump oracle(s) %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(ORACLES)))
    out = []
    for name in names:
        kwargs = options.get(name, {})
        out += ["%s: %s" % (name, violation) for violation in ORACLES[name](list(wire), **kwargs)]
    return out
