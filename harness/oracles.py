"""Oracles: rules a correct programmer keeps, checked on the wire after a test.

Switch them on for a test or module with `@pytest.mark.pump_oracles("dose_limits", "alarms",
"exactly_once")`, or for a whole suite with `pump_oracles = dose_limits alarms exactly_once` in
the ini file. Each oracle reads the decoded frames (harness.wire entries) and returns
violations: sentences that say what the programmer did wrong, in the pump's units.

The limits are recomputed here from the drug library in the catalog, independently of the
firmware, so a bug shared by both cannot hide.
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


def dose_limits(wire):
    """No hard limit sent; overrides only for findings the programmer was shown; units and
    concentrations consistent with the drug library and the last refill."""
    violations = []
    reservoir = None  # (drug, concentration) the pump holds, as last learned from the wire
    shown = set()  # soft limit codes the pump reported to the programmer (VALIDATE, NAK)
    for entry in wire:
        fields, name = entry["fields"], entry["name"]
        if fields is None:
            continue
        if entry["dir"] == "pump>host":
            if entry["kind"] == "RESPONSE" and name in ("GET_STATUS", "TC_GET_STATUS"):
                reservoir = (fields["drug"], fields["concentration_ug_per_ml"])
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
        if name == "PROGRAM_PRESCRIPTION":
            rx = fields["prescription"]
            for what, actual, limit in hard_limit_breaches(rx):
                violations.append("app sent a prescription above the hard limit: PROGRAM_PRESCRIPTION seq %d "
                                  "has %s (%d > %d)" % (entry["seq"], what, actual, limit)
                                  if actual > limit else
                                  "app sent a prescription outside the pump's limits: PROGRAM_PRESCRIPTION "
                                  "seq %d has %s (%d < %d)" % (entry["seq"], what, actual, limit))
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
        elif name == "CLINICIAN_BOLUS" and reservoir is not None and reservoir[0] in Drug._value2member_map_ \
                and reservoir[0] != 0:
            limit = DRUG_LIBRARY[Drug(reservoir[0])].hard_max_ug_per_day
            if fields["dose_ug"] > limit:
                violations.append("app sent a bolus above the hard limit: CLINICIAN_BOLUS seq %d of %d µg "
                                  "exceeds %s's %d µg/day" % (entry["seq"], fields["dose_ug"],
                                                              _name(Drug, reservoir[0]), limit))
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
    ACK_ALARM within deadline_s; no therapy change while a HIGH alarm stands unacknowledged; no
    instance acknowledged twice (a re-announcement is not a new alarm)."""
    violations = []
    raised = {}  # (code, instance) -> t first announced
    acked = {}  # (code, instance) -> seq of the ACK_ALARM request
    cleared = set()
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
            elif name == "ALARM_CLEARED":
                cleared.add(key)
        elif entry["dir"] == "host>pump" and entry["kind"] == "REQUEST":
            if name == "ACK_ALARM":
                key = (fields["code"], fields["instance"])
                if key in acked and acked[key] != entry["seq"]:
                    violations.append("app acknowledged alarm %s instance %d twice: it treated a re-announced "
                                      "alarm as a new one" % (_name(Alarm, key[0]), key[1]))
                acked.setdefault(key, entry["seq"])
            elif name in THERAPY_CHANGES:
                standing = [k for k in raised if k not in acked and k not in cleared
                            and ALARM_PRIORITY.get(k[0]) == Priority.HIGH]
                for code, instance in standing:
                    violations.append("app sent %s (seq %d) while high-priority alarm %s instance %d stood "
                                      "unacknowledged" % (name, entry["seq"], _name(Alarm, code), instance))
    for key, t in raised.items():
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
