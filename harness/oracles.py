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
  - overrides answer findings the pump showed; the prescription's drug and concentration are the
    reservoir's (a stale concentration makes every volume rate wrong);
  - a clinician bolus fits the programmed prescription's daily maximum.
alarms
  - standing alarms are learnt from every answer that lists them (GET_STATUS's active alarms,
    GET_ALARMS) as well as from events: an app that only listens for events misses an alarm that
    was raised while it was away;
  - no therapy change while a high-priority alarm stands unacknowledged;
  - every alarm event ACKed on the link; every HIGH and MEDIUM instance acknowledged in time;
  - an instance is acknowledged once, and only one the pump reported (blind ACKs hide alarms).
exactly_once
  - no state-changing request re-sent under a new seq while the first was unanswered (if only
    the answer was lost, it executes twice);
  - a seq is never reused for a different request (the pump refuses it, and an app that does this
    cannot retransmit safely).
"""

from pumpmock.protocol.catalog import MESSAGES_BY_NAME
from pumpmock.protocol.codes import ALARM_PRIORITY, Alarm, DRUG_LIBRARY, Drug, PUMP_LIMITS, Priority, TherapyMode

# Requests that change therapy and must wait for a standing high-priority alarm to be acknowledged.
# REFILL and SUSPEND are how a clinician deals with an alarm, so they are allowed.
THERAPY_CHANGES = {"PROGRAM_PRESCRIPTION", "CLINICIAN_BOLUS", "PTM_BOLUS", "RESUME"}
STATE_CHANGING = {name for name, message in MESSAGES_BY_NAME.items() if message.state_changing}


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
    for entry in wire:
        fields, name = entry["fields"], entry["name"]
        if fields is None:
            continue
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
            if name == "VALIDATE_PRESCRIPTION":
                continue
            unseen = [o for o in fields["overrides"] if o not in shown]
            if unseen:
                violations.append("app overrode soft limit(s) %s that the pump never reported to it "
                                  "(PROGRAM_PRESCRIPTION seq %d): overrides must answer shown findings"
                                  % (", ".join(_limit_name(o) for o in unseen), entry["seq"]))
            if reservoir is not None and reservoir[0] != 0:
                if rx["drug"] != reservoir[0]:
                    violations.append("app programmed %s while the reservoir holds %s (PROGRAM_PRESCRIPTION "
                                      "seq %d)" % (_name(Drug, rx["drug"]), _name(Drug, reservoir[0]), entry["seq"]))
                elif rx["concentration_ug_per_ml"] != reservoir[1]:
                    violations.append("app programmed concentration %d µg/mL but the reservoir holds %d µg/mL "
                                      "since the last refill: every volume rate is wrong (PROGRAM_PRESCRIPTION "
                                      "seq %d)" % (rx["concentration_ug_per_ml"], reservoir[1], entry["seq"]))
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


def alarms(wire, deadline_s=60.0, priorities=(Priority.HIGH, Priority.MEDIUM)):
    """Every alarm event ACKed at link level; every HIGH/MEDIUM alarm instance acknowledged with
    ACK_ALARM within deadline_s; no therapy change while a HIGH alarm stands unacknowledged, as
    learnt from events, GET_ALARMS and GET_STATUS alike; an instance acknowledged once, and only
    one the pump reported (a re-announcement is not a new alarm)."""
    violations = []
    raised = {}  # (code, instance) -> t first reported (event or alarm list)
    announced = {}  # (code, instance) -> t of its first ALARM_RAISED: the pump's call to acknowledge it
    announcements = {}  # (code, instance) -> ALARM_RAISED events seen (a re-announcement repeats it)
    acked = {}  # (code, instance) -> seq of the ACK_ALARM request
    cleared = set()
    listed_codes = set()  # codes GET_STATUS last listed as active (it gives no instance)
    link_acks = {(e["msg_id"], e["seq"]) for e in wire if e["dir"] == "host>pump" and e["kind"] == "ACK"}
    for entry in wire:
        fields, name = entry["fields"], entry["name"]
        if fields is None:
            continue
        if entry["dir"] == "pump>host" and entry["kind"] == "EVENT":
            if (entry["msg_id"], entry["seq"]) not in link_acks:
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
            if name == "ACK_ALARM":
                key = (fields["code"], fields["instance"])
                if key not in raised:
                    violations.append("app acknowledged alarm %s instance %d, which the pump never reported to "
                                      "it (ACK_ALARM seq %d): acknowledging blindly hides alarms nobody read"
                                      % (_name(Alarm, key[0]), key[1], entry["seq"]))
                elif key in acked and acked[key] != entry["seq"]:
                    if announcements.get(key, 0) > 1:
                        violations.append("app acknowledged alarm %s instance %d twice: it treated a re-announced "
                                          "alarm as a new one" % (_name(Alarm, key[0]), key[1]))
                    else:
                        violations.append("app acknowledged alarm %s instance %d twice (ACK_ALARM seq %d, then "
                                          "seq %d)" % (_name(Alarm, key[0]), key[1], acked[key], entry["seq"]))
                acked.setdefault(key, entry["seq"])
                listed_codes.discard(key[0])
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


def exactly_once(wire):
    """No state-changing request re-sent under a new seq while the earlier one was unanswered."""
    violations = []
    requests = [e for e in wire if e["dir"] == "host>pump" and e["kind"] == "REQUEST"
                and e["name"] in STATE_CHANGING]
    answers = {}
    for entry in wire:
        if entry["dir"] == "pump>host" and entry["kind"] in ("RESPONSE", "NAK"):
            answers.setdefault((entry["msg_id"], entry["seq"]), entry["t"])
    for i, first in enumerate(requests):
        answered_at = answers.get((first["msg_id"], first["seq"]))
        for later in requests[i + 1:]:
            if later["msg_id"] != first["msg_id"] or later["seq"] == first["seq"] \
                    or later["fields"] != first["fields"]:
                continue
            if answered_at is None or answered_at > later["t"]:
                violations.append("%s re-sent under a new sequence number (seq %d, then seq %d) while the "
                                  "first was unanswered: if only the answer was lost, it executes twice"
                                  % (first["name"], first["seq"], later["seq"]))
            break
    return violations


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
