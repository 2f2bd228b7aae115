"""Example clinician programmer for the pumpmock mock pump: a small program a clinician might script.

    python examples/programmer_app/app.py --port /dev/pts/5 interrogate
    python examples/programmer_app/app.py --port PATH refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20
    python examples/programmer_app/app.py --port PATH program --drug morphine --dose-mg-per-day 3 \\
        --max-mg-per-day 5 --ptm-dose-mg 0.2 --ptm-lockout-h 2 --ptm-max 3
    python examples/programmer_app/app.py --port PATH --role patient ptm-bolus --yes
    python examples/programmer_app/app.py --port PATH watch-alarms --seconds 30

It talks clinician units (mg, mL, hours, minutes) and sends the wire's integers (µg, µL, min, s).
It checks the drug library itself before sending anything, asks the pump to validate, needs
--confirm-soft for soft findings, and reads back what it programmed. Results go to stdout as
JSON, reasons to stderr. Exit codes: 0 done, 1 refused (by the app or by the pump, reason on
stderr), 2 link or protocol failure (no answer, garbage, or a peer that is not the mock).

FICTIONAL and NOT FOR CLINICAL USE: it talks only to the pumpmock mock pump.
"""

import argparse
import json
import sys
import time
from enum import IntEnum

import dosing
import pumplink
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, BolusKind, Drug, Error, Limit, LogKind, Priority, Role, Severity, TherapyMode

EXIT_OK, EXIT_REFUSED, EXIT_LINK = 0, 1, 2
LOG_PAGE = 12  # READ_LOG's largest page

# How to show a finding's limit and actual values to a clinician.
MILLI_UNITS = {Limit.CONCENTRATION_MAX: "mg/mL", Limit.CONCENTRATION_MISMATCH: "mg/mL",
               Limit.DAILY_DOSE_SOFT: "mg/day", Limit.DAILY_DOSE_HARD: "mg/day",
               Limit.MAX_DAILY_SOFT: "mg/day", Limit.MAX_DAILY_HARD: "mg/day",
               Limit.MAX_DAILY_BELOW_PLAN: "mg/day", Limit.PTM_DOSE_MAX: "mg"}
PLAIN_UNITS = {Limit.RATE_MIN: "µL/day", Limit.RATE_MAX: "µL/day", Limit.RESERVOIR_DURATION: "days",
               Limit.PTM_LOCKOUT_RANGE: "min", Limit.PTM_ACTIVATIONS_RANGE: "per 24 h"}


class Refused(Exception):
    """The app itself refuses: invalid input or a limit. Nothing unsafe was sent."""


# ---- output ------------------------------------------------------------------------------------
def readable(value):
    """A protocol message as JSON-ready data, with code names instead of numbers."""
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "_fields"):
        return {name: readable(getattr(value, name)) for name in value._fields}
    if isinstance(value, (tuple, list)):
        return [readable(item) for item in value]
    return value


def emit(data):
    print(json.dumps(data, ensure_ascii=False), flush=True)


def note(text):
    print(text, file=sys.stderr, flush=True)


def describe_finding(finding):
    limit = Limit(finding.limit)
    if limit in MILLI_UNITS:
        values = "%s %s, limit %s %s" % (dosing.as_milli(finding.actual_value), MILLI_UNITS[limit],
                                         dosing.as_milli(finding.limit_value), MILLI_UNITS[limit])
    else:
        unit = PLAIN_UNITS.get(limit, "")
        values = "%d %s, limit %d %s" % (finding.actual_value, unit, finding.limit_value, unit)
    return "%s (%s)" % (limit.name, values.replace(" ,", ","))


def confirm(args, question):
    """Ask the clinician on the terminal; --yes answers for scripts."""
    if args.yes:
        return
    print("confirm: %s [y/N] " % question, file=sys.stderr, end="", flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise Refused("not confirmed: nothing was sent")


# ---- session -----------------------------------------------------------------------------------
def connect(args):
    """Open the port, check the peer is the mock, log in with the requested role."""
    link = pumplink.PumpLink(pumplink.open_port(args.port))
    try:
        link.handshake()
        link.login(Role[args.role.upper()])
    except BaseException:
        link.close()
        raise
    return link


def current_prescription(link):
    """The programmed prescription, or None when there is none (or this role may not read it)."""
    try:
        return link.request(m.GetPrescriptionRequest()).prescription
    except pumplink.PumpRefused as refused:
        if refused.error in ("NOT_PROGRAMMED", "WRONG_ROLE"):
            return None
        raise


def refuse_if_high_alarm(link):
    """Therapy is not changed past a high-priority alarm: the clinician deals with it first."""
    for alarm in link.request(m.GetAlarmsRequest()).alarms:
        if alarm.priority == Priority.HIGH:
            raise Refused("high-priority alarm %s (instance %d) is active: deal with it and acknowledge it "
                          "(watch-alarms) before changing therapy" % (Alarm(alarm.code).name, alarm.instance))


def reservoir_for_prescription(status, current_rx):
    """(drug, concentration µg/mL) a new prescription must use: what the reservoir holds NOW, as
    the pump reports it. A refill may have changed it since the current prescription was made."""
    return status.drug, status.concentration_ug_per_ml


def soft_overrides(findings, confirmed):
    """The overrides to send: exactly the soft findings' limits, and only if the clinician
    confirmed them (--confirm-soft)."""
    soft = [f for f in findings if f.severity == Severity.SOFT]
    if soft and not confirmed:
        raise Refused("soft limit(s) need the clinician's confirmation (--confirm-soft): %s"
                      % "; ".join(describe_finding(f) for f in soft))
    return tuple(Limit(f.limit) for f in soft)


def alarm_key(alarm):
    """What identifies one alarm: its code and instance. A re-announcement (announce_count > 1)
    is the same alarm, not a new one."""
    return (alarm.code, alarm.instance)


def acknowledge_alarm(link, code, instance):
    """ACK_ALARM for one alarm instance (stops its re-announcement)."""
    try:
        remaining = link.request(m.AckAlarmRequest(code, instance)).remaining
    except pumplink.PumpRefused as refused:
        if refused.error == "NO_SUCH_ALARM":
            note("%s instance %d needs no acknowledgement (already acknowledged or gone)" % (Alarm(code).name, instance))
            return
        raise
    note("acknowledged %s instance %d (%d alarm(s) still listed)" % (Alarm(code).name, instance, remaining))


def bolus_dose_ug(args):
    """The clinician's bolus dose in mg, as µg for the wire."""
    return dosing.mg_to_ug(args.dose_mg)


# ---- commands ----------------------------------------------------------------------------------
def cmd_interrogate(link, args):
    status = link.request(m.GetStatusRequest())
    rx = current_prescription(link)
    alarms = link.request(m.GetAlarmsRequest()).alarms
    identity = link.identity
    emit({"pump": {"serial": identity.serial, "firmware_version": identity.firmware_version,
                   "test_mode": identity.test_mode, "capacity_ul": identity.capacity_ul},
          "status": readable(status), "prescription": readable(rx) if rx is not None else None,
          "alarms": readable(alarms)})
    return EXIT_OK


def cmd_refill(link, args):
    drug = dosing.drug_from_name(args.drug)
    concentration = dosing.mg_per_ml_to_ug_per_ml(args.concentration_mg_per_ml)
    volume_ul = dosing.ml_to_ul(args.volume_ml)
    problems = dosing.refill_problems(drug, concentration, volume_ul, link.identity.capacity_ul)
    if problems:
        raise Refused("refill refused: " + "; ".join(problems))
    rx = current_prescription(link)
    answer = link.request(m.RefillRequest(drug, concentration, volume_ul))
    if rx is not None and rx.concentration_ug_per_ml != concentration:
        note("the prescription still uses %s mg/mL: program it again for %s mg/mL now" % (
            dosing.as_milli(rx.concentration_ug_per_ml), dosing.as_milli(concentration)))
    emit({"refilled": {"drug": drug.name, "concentration_ug_per_ml": concentration, "volume_added_ul": volume_ul},
          "reservoir_ul": answer.reservoir_ul, "days_to_empty": answer.days_to_empty})
    return EXIT_OK


def build_prescription(args, drug, concentration_ug_per_ml):
    with_ptm = args.ptm_dose_mg is not None
    return m.Prescription(
        drug=drug, concentration_ug_per_ml=concentration_ug_per_ml, mode=TherapyMode.SIMPLE_CONTINUOUS,
        daily_dose_ug=dosing.mg_to_ug(args.dose_mg_per_day), steps=(),
        ptm_dose_ug=dosing.mg_to_ug(args.ptm_dose_mg) if with_ptm else 0,
        ptm_lockout_min=dosing.hours_to_min(args.ptm_lockout_h) if with_ptm else 0,
        ptm_max_per_24h=args.ptm_max if with_ptm else 0,
        max_daily_dose_ug=dosing.mg_to_ug(args.max_mg_per_day),
        refill_interval_days=args.refill_interval_days)


def cmd_program(link, args):
    drug = dosing.drug_from_name(args.drug)
    status = link.request(m.GetStatusRequest())
    refuse_if_high_alarm(link)
    reservoir_drug, reservoir_concentration = reservoir_for_prescription(status, current_prescription(link))
    entered = args.concentration_mg_per_ml
    concentration = dosing.mg_per_ml_to_ug_per_ml(entered) if entered is not None else reservoir_concentration
    rx = build_prescription(args, drug, concentration)
    problems = dosing.reservoir_problems(rx, reservoir_drug, reservoir_concentration) or dosing.hard_limit_problems(rx)
    if problems:
        raise Refused("prescription refused, nothing sent: " + "; ".join(problems))
    findings = link.request(m.ValidatePrescriptionRequest(rx)).findings
    hard = [f for f in findings if f.severity == Severity.HARD]
    if hard:
        raise Refused("the pump found hard limit(s): %s" % "; ".join(describe_finding(f) for f in hard))
    overrides = soft_overrides(findings, args.confirm_soft)
    version = link.request(m.ProgramPrescriptionRequest(overrides, rx)).version
    held = link.request(m.GetPrescriptionRequest())
    if held.version != version or held.prescription != rx:
        raise pumplink.LinkFailed("read-back mismatch: the pump holds version %d %r, the app programmed version "
                                  "%d %r" % (held.version, held.prescription, version, rx))
    emit({"programmed": {"version": version, "overrides": [o.name for o in overrides],
                         "prescription": readable(rx)}})
    return EXIT_OK


def cmd_ptm_bolus(link, args):
    refuse_if_high_alarm(link)
    confirm(args, "deliver one patient bolus now")
    answer = link.request(m.PtmBolusRequest())
    emit({"bolus": "PTM", "dose_ug": answer.dose_ug, "activations_24h": answer.activations_24h,
          "next_allowed_s": answer.next_allowed_s})
    return EXIT_OK


def cmd_clinician_bolus(link, args):
    status = link.request(m.GetStatusRequest())
    if status.drug == Drug.NONE:
        raise Refused("the reservoir holds no drug")
    refuse_if_high_alarm(link)
    dose_ug = bolus_dose_ug(args)
    duration_s = dosing.minutes_to_s(args.duration_min)
    problems = dosing.bolus_problems(status.drug, dose_ug, duration_s)
    if problems:
        raise Refused("bolus refused, nothing sent: " + "; ".join(problems))
    kind = BolusKind[args.kind.upper()]
    confirm(args, "deliver a %s bolus of %s mg %s over %s min" % (
        kind.name.lower(), dosing.as_milli(dose_ug), Drug(status.drug).name.lower(), args.duration_min))
    answer = link.request(m.ClinicianBolusRequest(kind, dose_ug, duration_s))
    emit({"bolus": kind.name, "dose_ug": dose_ug, "volume_ul": answer.volume_ul, "ends_s": answer.ends_s})
    return EXIT_OK


def cmd_watch_alarms(link, args):
    """Show each alarm instance once, and acknowledge it (clinician role) until time runs out."""
    shown = set()
    can_acknowledge = args.role.lower() == "clinician"

    def on_alarm(alarm, how):
        key = alarm_key(alarm)
        if key in shown:
            return  # the same alarm again (re-announced): already shown and acknowledged
        shown.add(key)
        emit({"alarm": Alarm(alarm.code).name, "instance": alarm.instance, "priority": Priority(alarm.priority).name,
              "latching": bool(alarm.latching), "raised_s": alarm.raised_s, "seen": how})
        if can_acknowledge:
            acknowledge_alarm(link, alarm.code, alarm.instance)

    for alarm in link.request(m.GetAlarmsRequest()).alarms:
        on_alarm(alarm, "listed")
    note("watching alarms for %s s" % args.seconds)
    deadline = time.monotonic() + args.seconds
    while True:
        # The deadline is checked per event: under an alarm flood every acknowledgement can bring
        # new events, and a queue drained first would never end.
        while link.events and time.monotonic() < deadline:
            event = link.events.popleft()
            if isinstance(event, m.AlarmRaised):
                on_alarm(event, "raised")
            elif isinstance(event, m.AlarmCleared):
                note("%s instance %d cleared" % (Alarm(event.code).name, event.instance))
        if time.monotonic() >= deadline:
            return EXIT_OK
        link.wait_events(deadline)


def cmd_read_log(link, args):
    page = link.request(m.ReadLogRequest(0, LOG_PAGE))
    start, end = page.oldest_index, page.next_index
    entries = [e for e in page.entries if e.index >= start]
    while entries and entries[-1].index + 1 < end:
        entries += link.request(m.ReadLogRequest(entries[-1].index + 1, LOG_PAGE)).entries
    emit({"oldest_index": start, "next_index": end,
          "entries": [dict(readable(e), kind=LogKind(e.kind).name) for e in entries]})
    return EXIT_OK


def command_function(name):
    """cmd_<name>, looked up when it runs (so a seeded-defect variant can replace one)."""
    return globals()["cmd_" + name.replace("-", "_")]


# ---- command line ------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit code 2 is kept for link failures
        self.print_usage(sys.stderr)
        self.exit(EXIT_REFUSED, "refused: %s\n" % message)


def parser():
    p = _Parser(prog="app.py", description="Example clinician programmer for the pumpmock mock pump "
                                           "(NOT FOR CLINICAL USE). Exit codes: 0 done, 1 refused, 2 link failure.")
    p.add_argument("--port", required=True, metavar="PATH", help="serial port of the pump (a device or pseudo-terminal path)")
    p.add_argument("--role", default="clinician", choices=["clinician", "patient"],
                   help="log in as the clinician programmer (default) or the patient therapy manager")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("interrogate", help="print identity, status, prescription and alarms as JSON")
    refill = sub.add_parser("refill", help="record a refill of the reservoir")
    refill.add_argument("--drug", required=True, metavar="NAME", help="drug filled, e.g. morphine")
    refill.add_argument("--concentration-mg-per-ml", required=True, metavar="MG_PER_ML", help="its concentration, mg/mL")
    refill.add_argument("--volume-ml", required=True, metavar="ML", help="volume filled, mL")
    program = sub.add_parser("program", help="validate, program and read back a simple continuous prescription")
    program.add_argument("--drug", required=True, metavar="NAME", help="drug, must be the reservoir's")
    program.add_argument("--concentration-mg-per-ml", metavar="MG_PER_ML", help="must be the reservoir's (default: the reservoir's)")
    program.add_argument("--dose-mg-per-day", required=True, metavar="MG", help="basal dose, mg/day")
    program.add_argument("--max-mg-per-day", required=True, metavar="MG", help="ceiling for basal + boluses in any 24 h, mg")
    program.add_argument("--ptm-dose-mg", metavar="MG", help="dose per patient bolus, mg (default: no patient boluses)")
    program.add_argument("--ptm-lockout-h", default="2", metavar="H", help="hours between patient boluses (default 2)")
    program.add_argument("--ptm-max", type=int, default=3, metavar="N", help="patient boluses per 24 h (default 3)")
    program.add_argument("--refill-interval-days", type=int, default=30, metavar="DAYS", help="days to the next refill (default 30)")
    program.add_argument("--confirm-soft", action="store_true",
                         help="the clinician confirms the soft-limit findings the pump reports")
    ptm = sub.add_parser("ptm-bolus", help="ask for one patient bolus")
    ptm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    bolus = sub.add_parser("clinician-bolus", help="deliver a one-off clinician bolus")
    bolus.add_argument("--dose-mg", required=True, metavar="MG", help="dose, mg")
    bolus.add_argument("--duration-min", required=True, metavar="MIN", help="delivery time, minutes")
    bolus.add_argument("--kind", default="clinician", choices=["bridge", "priming", "clinician"])
    bolus.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    watch = sub.add_parser("watch-alarms", help="show and acknowledge alarms as they come")
    watch.add_argument("--seconds", type=float, default=30.0, metavar="S", help="how long to watch (default 30)")
    sub.add_parser("read-log", help="print the pump's event log as JSON")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        link = connect(args)
    except pumplink.LinkFailed as failed:
        note("link failure: %s" % failed)
        return EXIT_LINK
    except pumplink.PumpRefused as refused:
        note("refused: %s" % refused)
        return EXIT_REFUSED
    try:
        return command_function(args.command)(link, args)
    except (Refused, dosing.InputError) as refused:
        note("refused: %s" % refused)
        return EXIT_REFUSED
    except pumplink.PumpRefused as refused:
        note("refused: %s" % refused)
        return EXIT_REFUSED
    except pumplink.LinkFailed as failed:
        if args.command in ("ptm-bolus", "clinician-bolus"):
            failed = "%s; the bolus may or may not have been delivered: interrogate and read the log " \
                     "before asking again" % failed
        note("link failure: %s" % failed)
        return EXIT_LINK
    finally:
        link.close()


if __name__ == "__main__":
    sys.exit(main())
