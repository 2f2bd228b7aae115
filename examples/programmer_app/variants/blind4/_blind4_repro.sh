#!/usr/bin/env bash
# The README's hand checks: each one runs against the correct app and then against its variant,
# each time on a fresh `pumpmock serve --pty --test-mode --seed 1`. Run from anywhere:
#   bash _blind4_repro.sh [NAME...]
# Not a test (it asserts nothing): it prints what each program printed, for a person to compare.
set -u
ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
cd "$ROOT"
PY=$ROOT/.venv/bin/python
V=examples/programmer_app/variants/blind4
APP=examples/programmer_app/app.py
TC="$PY $V/_blind4_tc.py"
WORK=$(mktemp -d)
SPID=
cleanup() { [ -n "$SPID" ] && { kill "$SPID"; wait "$SPID"; } 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() {  # a fresh pump; sets P (its pty) and SPID
  rm -f "$WORK/serve.txt"
  "$ROOT/.venv/bin/pumpmock" serve --pty --test-mode --seed 1 > "$WORK/serve.txt" 2> "$WORK/serve.err" &
  SPID=$!
  until [ -s "$WORK/serve.txt" ]; do kill -0 "$SPID" || exit 2; sleep 0.1; done
  P=$(head -1 "$WORK/serve.txt")
}
stop() { kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=; }
run() { local f=$1; shift; timeout "${T:-30}" "$PY" "$f" --port "$P" "$@"; echo "rc=$?"; }
quiet() { "$PY" $APP --port "$P" "$@" > /dev/null || echo "setup step failed: $*"; }
field() { $TC "$P" "$1" | grep -oE "[ (]$2=[^,)]*" | tr -d ' ('; }
setup_rx() {  # morphine 20 mg/mL, 20 mL; 3 mg/day, max 5 mg/day, PTM 0.2 mg every 2 h, 3 a day
  quiet refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20
  quiet program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5 --ptm-dose-mg 0.2 --ptm-lockout-h 2 --ptm-max 3
}

milli_display_strips_integer_zeros() {
  quiet refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20
  run "$1" program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 12   # soft finding, not confirmed
  quiet program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5
  run "$1" refill --drug morphine --concentration-mg-per-ml 10 --volume-ml 20 > /dev/null
  echo n | run "$1" clinician-bolus --dose-mg 10 --duration-min 30; echo   # the prompt, answered no
}
session_role_from_command() {
  setup_rx
  run "$1" --role patient interrogate | "$PY" -c 'import json, sys; d = json.loads(sys.stdin.readline()); print("session role", d["status"]["role"], "| prescription", d["prescription"] and d["prescription"]["daily_dose_ug"]); print(sys.stdin.read())'
  run "$1" --role patient program --drug morphine --dose-mg-per-day 9 --max-mg-per-day 9 > /dev/null
  field rx daily_dose_ug
}
refill_note_checks_readback() {
  quiet refill --drug morphine --concentration-mg-per-ml 10 --volume-ml 20
  quiet program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5
  run "$1" refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20 > /dev/null
  $TC "$P" warp 86400 > /dev/null; field status delivered_24h_ug   # 3000 prescribed
}
high_alarm_block_active_only() {
  setup_rx; $TC "$P" inject MOTOR_STALL > /dev/null; $TC "$P" clear MOTOR_STALL; $TC "$P" alarms
  run "$1" program --drug morphine --dose-mg-per-day 4 --max-mg-per-day 6 --ptm-dose-mg 0.2
  field status therapy_state
}
watch_skips_latched_alarms() {
  setup_rx; $TC "$P" inject CATHETER_OCCLUSION > /dev/null; $TC "$P" clear CATHETER_OCCLUSION
  sleep 3   # no programmer on the line: the pump's re-sends of the (ACTIVE) raise event run out
  run "$1" watch-alarms --seconds 1
  echo "after the watch:"; $TC "$P" alarms; field status therapy_state
}
log_pages_counted_from_zero() {
  setup_rx; $TC "$P" fill-log 100
  T=30 "$PY" $APP --port "$P" --role patient ptm-bolus --yes > /dev/null; $TC "$P" warp 60 > /dev/null
  # fill the ring so that its oldest entry is 3 before the PTM bolus entry (the next run's AUTH is +1)
  local fill
  fill=$("$PY" $APP --port "$P" read-log | "$PY" -c 'import json, sys; d = json.loads(sys.stdin.read()); b = [e["index"] for e in d["entries"] if e["kind"] == "BOLUS"][0]; print(b - 3 + 512 - d["next_index"] - 1)')
  $TC "$P" fill-log "$fill"
  run "$1" read-log | "$PY" -c 'import json, sys; d = json.loads(sys.stdin.readline()); e = d["entries"]; print("oldest", d["oldest_index"], "next", d["next_index"], "entries", len(e), "distinct", len({x["index"] for x in e}), "| PTM boluses listed:", sum(1 for x in e if x["kind"] == "BOLUS" and x["code"] == 4)); print(sys.stdin.read())'
}
decimal_comma_read_as_thousands() {
  quiet refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20
  run "$1" program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5 --ptm-dose-mg 0,2 > /dev/null
  field rx ptm_dose_ug
  run $APP --role patient ptm-bolus --yes
}
confirm_default_yes() {
  setup_rx
  printf '\n' | run "$1" clinician-bolus --dose-mg 0.5 --duration-min 30; echo
  field status bolus_remaining_ug
}
basal_dose_from_max_field() {
  quiet refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20
  run "$1" program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5 | grep -oE '"daily_dose_ug": [0-9]+'
  field status basal_rate_ug_per_day
}
ptm_bolus_sent_before_confirm() {
  setup_rx
  echo n | run "$1" --role patient ptm-bolus; echo
  field status bolus_remaining_ug; field counters boluses_delivered
}
events_decoded_as_responses() {
  # 24 mL/day (morphine 0.5 mg/mL, 12 mg/day): one µL every 3.6 s; 2 µL left: empty within ~8 s
  quiet refill --drug morphine --concentration-mg-per-ml 0.5 --volume-ml 20
  quiet program --drug morphine --dose-mg-per-day 12 --max-mg-per-day 12 --confirm-soft
  $TC "$P" reservoir 2
  run "$1" watch-alarms --seconds 12
  $TC "$P" warp 120 > /dev/null; echo "2 min later:"; $TC "$P" alarms   # announce_count 3: never acknowledged
}
seq_kept_after_nak() {
  setup_rx; $TC "$P" reservoir 1500                 # LOW_RESERVOIR (medium, its cause stays)
  "$PY" $APP --port "$P" watch-alarms --seconds 1 > /dev/null 2>&1   # acknowledged, still listed
  $TC "$P" inject MOTOR_STALL > /dev/null
  run "$1" watch-alarms --seconds 1
  $TC "$P" warp 180 > /dev/null; echo "3 min later:"; $TC "$P" alarms   # announce_count 4: never acknowledged
}

ALL="milli_display_strips_integer_zeros session_role_from_command refill_note_checks_readback
high_alarm_block_active_only watch_skips_latched_alarms log_pages_counted_from_zero
decimal_comma_read_as_thousands confirm_default_yes basal_dose_from_max_field
ptm_bolus_sent_before_confirm events_decoded_as_responses seq_kept_after_nak"
for name in ${*:-$ALL}; do
  for f in $APP $V/$name.py; do
    echo "== $name: $f"
    start; $name "$f"; [ -n "$SPID" ] && stop
  done
done
