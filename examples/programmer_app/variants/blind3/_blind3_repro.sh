#!/usr/bin/env bash
# The README's hand checks, each against the correct app and then its variant, on a fresh
# `pumpmock serve --pty --test-mode --seed 1`. Run from anywhere: bash _blind3_repro.sh [NAME...]
# Not a test (it asserts nothing): it prints what each program printed, for a person to compare.
set -u
ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
cd "$ROOT"
PY=$ROOT/.venv/bin/python
V=examples/programmer_app/variants/blind3
APP=examples/programmer_app/app.py
TC="$PY $V/_blind3_tc.py"
WORK=$(mktemp -d)
SPID=
cleanup() { [ -n "$SPID" ] && { kill -CONT "$SPID"; kill "$SPID"; wait "$SPID"; } 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() {  # a fresh pump recording its frames to $WORK/tx.jsonl; sets P and SPID
  rm -f "$WORK/serve.txt" "$WORK/tx.jsonl"
  "$ROOT/.venv/bin/pumpmock" serve --pty --test-mode --seed 1 --transcript "$WORK/tx.jsonl" \
    > "$WORK/serve.txt" 2> "$WORK/serve.err" &
  SPID=$!
  until [ -s "$WORK/serve.txt" ]; do kill -0 "$SPID" || exit 2; sleep 0.1; done
  P=$(head -1 "$WORK/serve.txt")
}
stop() { kill -CONT "$SPID" 2>/dev/null; kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=; }
run() { local f=$1; shift; timeout "${T:-20}" "$PY" "$f" --port "$P" "$@"; echo "rc=$?"; }
sent() { echo "$1 requests sent: $(grep -c "\"host>pump\".*\"name\": \"$1\"" "$WORK/tx.jsonl")"; }
setup_rx() {  # morphine 20 mg/mL, 20 mL; 3 mg/day, max 5 mg/day, PTM 0.2 mg every 2 h, 3 a day
  "$PY" $APP --port "$P" refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20 > /dev/null
  "$PY" $APP --port "$P" program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5 \
    --ptm-dose-mg 0.2 --ptm-lockout-h 2 --ptm-max 3 > /dev/null
}

interrogate_hides_latched_alarms() {
  $TC "$P" inject MOTOR_STALL > /dev/null; $TC "$P" clear MOTOR_STALL; $TC "$P" alarms
  run "$1" interrogate | "$PY" -c 'import json, sys; print("alarms:", json.loads(sys.stdin.readline())["alarms"]); print(sys.stdin.read())'
}
refill_capacity_counts_residual() {
  setup_rx; $TC "$P" warp 2592000 > /dev/null   # 30 days at 150 µL/day: 15.5 mL left
  run "$1" refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20
}
refill_concentration_left_to_pump() {
  run "$1" refill --drug morphine --concentration-mg-per-ml 25 --volume-ml 20; stop; sent REFILL
}
max_daily_soft_checked_as_hard() {
  run $APP refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20 > /dev/null
  run "$1" program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 12 --confirm-soft
}
program_concentration_not_matched() {
  run $APP refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20 > /dev/null
  run "$1" program --drug morphine --concentration-mg-per-ml 10 --dose-mg-per-day 3 --max-mg-per-day 5
  stop; sent VALIDATE_PRESCRIPTION
}
high_alarm_check_first_only() {
  setup_rx; $TC "$P" reservoir 1500; $TC "$P" inject MOTOR_STALL > /dev/null; $TC "$P" alarms
  run "$1" program --drug morphine --dose-mg-per-day 4 --max-mg-per-day 6 --ptm-dose-mg 0.2 --confirm-soft
}
ptm_activations_shown_before_this_one() {
  setup_rx; run "$1" --role patient ptm-bolus --yes
}
bolus_link_loss_reported_delivered() {
  setup_rx
  mkfifo "$WORK/in"
  timeout 20 "$PY" "$1" --port "$P" clinician-bolus --dose-mg 0.5 --duration-min 30 < "$WORK/in" 2> "$WORK/err" &
  local apid=$!
  exec 3> "$WORK/in"
  until grep -q confirm "$WORK/err"; do sleep 0.1; done
  kill -STOP "$SPID"; echo y >&3; exec 3>&-   # the pump goes silent while the clinician confirms
  wait $apid; echo "rc=$?"; cat "$WORK/err"; echo
  kill -CONT "$SPID"; rm -f "$WORK/in"
  $TC "$P" status | grep -o 'bolus_remaining_ug=[0-9]*'
}
watch_deadline_wall_clock() {
  T=10 run "$1" watch-alarms --seconds 1   # rc=124: killed by timeout after 10 s
}
ack_instance_from_announce_count() {
  $TC "$P" inject CATHETER_OCCLUSION > /dev/null
  run "$1" watch-alarms --seconds 1
  $TC "$P" clear CATHETER_OCCLUSION; $TC "$P" inject MOTOR_STALL > /dev/null
  run "$1" watch-alarms --seconds 1
  $TC "$P" warp 180 > /dev/null; $TC "$P" alarms   # announce_count 4: never acknowledged
}
read_log_first_page_only() {
  setup_rx; for i in 1 2 3 4 5 6 7 8 9 10; do $TC "$P" warp 60 > /dev/null; done
  run "$1" read-log | "$PY" -c 'import json, sys; d = json.loads(sys.stdin.readline()); print("next_index", d["next_index"], "entries", len(d["entries"])); print(sys.stdin.read())'
}
response_timeout_ms_as_seconds() {
  kill -STOP "$SPID"   # a silent pump
  local s=$SECONDS; T=15 run "$1" interrogate; echo "took about $((SECONDS - s)) s (rc=124: killed after 15 s)"
}

ALL="interrogate_hides_latched_alarms refill_capacity_counts_residual refill_concentration_left_to_pump
max_daily_soft_checked_as_hard program_concentration_not_matched high_alarm_check_first_only
ptm_activations_shown_before_this_one bolus_link_loss_reported_delivered watch_deadline_wall_clock
ack_instance_from_announce_count read_log_first_page_only response_timeout_ms_as_seconds"
for name in ${*:-$ALL}; do
  for f in $APP $V/$name.py; do
    echo "== $name: $f"
    start; $name "$f"; [ -n "$SPID" ] && stop
  done
done
