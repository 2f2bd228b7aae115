"""The pump's therapy model on a virtual clock: delivery, reservoir, battery, rolling 24 h, alarms and log.

Event-driven: advance(t) jumps from one moment where something changes to the next (a day
boundary, a bolus end, a reservoir or battery threshold, the end of an informational alarm's
cause) and computes the delivery in between in closed form, flex steps included. A year
costs what its events cost, and any way of cutting time into calls gives the same result.
docs/PUMP_MODEL.md states every rule here as formulas.

Delivery moves whole µL. Basal: an accumulator grows by the current step's volume rate
(µL/day) every ms, and a µL moves each time it passes a multiple of 86_400_000. A bolus of V
µL over D ms has moved V × elapsed // D µL. Every µL carries the RESERVOIR's concentration in
ng (µL × µg/mL = ng); rates are computed from the PRESCRIPTION's concentration.
"""

from . import spec
from . import therapy
from .alarms import AlarmList
from .eventlog import EventLog

DAY_MS = 86400000
HOUR_MS = 3600000
MINUTE_MS = 60000
WINDOW_HOURS = 25  # the rolling "24 h": the current clock hour and the 24 before it
PTM_BOLUS_KIND = 4  # bolus kind in BOLUS log entries for a PTM bolus


class Bolus:
    """A bolus in progress: volume_ul evenly over duration_ms from start_ms."""

    def __init__(self, kind, dose_ug, volume_ul, start_ms, duration_ms, done_ul=0, done_ng=0):
        self.kind = kind
        self.dose_ug = dose_ug
        self.volume_ul = volume_ul
        self.start_ms = start_ms
        self.duration_ms = duration_ms
        self.done_ul = done_ul
        self.done_ng = done_ng

    @property
    def end_ms(self):
        return self.start_ms + self.duration_ms

    def moved_by(self, t):
        """µL moved from the start up to ms t."""
        if t >= self.start_ms + self.duration_ms:
            return self.volume_ul
        return self.volume_ul * (t - self.start_ms) // self.duration_ms


class PumpModel:
    """Everything the pump persists, and the rules that move it through time."""

    def __init__(self, capacity_ul=spec.CAPACITY_UL, sink=None):
        self.capacity_ul = capacity_ul
        self.battery_full_ms = spec.BATTERY_LIFE_DAYS * DAY_MS
        self.battery_eri_ms = self.battery_full_ms * spec.BATTERY_ERI_PCT // 100
        self.sink = sink  # told about alarm instances raised and cleared (for EVENT frames)
        self.log = EventLog()
        self.alarms = AlarmList()
        self.reset()

    def reset(self):
        """Factory state."""
        self.clock_ms = 0
        self.reboots = 0
        self.set_prescription(None, 0)
        self.suspended = False
        self.drug = spec.DRUG_NONE
        self.conc = 0
        self.reservoir_ul = 0
        self.phase = 0  # basal accumulator Q modulo one day
        self.bolus = None
        self.delivered_ng = 0
        self.delivered_ul = 0
        self.filled_ul = 0
        self.removed_ul = 0
        self.boluses_started = 0
        self.basal_log_ng = 0  # basal not yet reported in a BASAL log entry
        self.basal_log_ul = 0
        self.buckets = {}  # clock hour -> ng delivered in it (the rolling window's hours only)
        self._window_memo = (None, None, None, 0)  # see delivered_24h_ng
        self.ptm_times = []  # ms of accepted PTM boluses in the last 24 h
        self.battery_ms = self.battery_full_ms
        self.faults = 0  # bit (1 << fault code) per injected fault
        self.daily_max_until_ms = 0  # informational alarm causes last until these moments
        self.ptm_lockout_until_ms = 0
        self.log.clear()
        self.alarms.clear()

    # ---- prescription and state ------------------------------------------------------------
    def set_prescription(self, rx, version):
        self.rx = rx
        self.rx_version = version
        self._steps = None
        self._integral_memo = (None, None, 0)
        self._span_memo = (0, 0, None, None)  # see step_at: empty until asked
        self.daily_volume_ul = 0  # basal µL per day of the prescription (status, days to empty)
        if rx is not None:
            self.daily_volume_ul = therapy.basal_daily_volume_ul(rx)
            conc = rx["concentration_ug_per_ml"]
            self._steps = [(start * MINUTE_MS, rate, therapy.volume_rate_ul_per_day(rate, conc))
                           for start, rate, _minutes in therapy.schedule(rx)]
            # The volume integral at each step start, and over a whole day (see integral()).
            self._integral_at_step = []
            total = 0
            for i, step in enumerate(self._steps):
                self._integral_at_step.append(total)
                end_ms = self._steps[i + 1][0] if i + 1 < len(self._steps) else DAY_MS
                total += step[2] * (end_ms - step[0])
            self._integral_per_day = total
            self._fastest_ul_per_day = max([step[2] for step in self._steps])
            # ... and at the last ms of each hour of the day, for the rolling window's buckets.
            self._integral_hour_end = [self.integral((hour + 1) * HOUR_MS - 1) for hour in range(24)]

    def therapy_state(self):
        if self.rx is None:
            return spec.STATE_NOT_PROGRAMMED
        if self.alarms.stopping():
            return spec.STATE_STOPPED
        if self.suspended:
            return spec.STATE_SUSPENDED
        return spec.STATE_RUNNING

    def delivering(self):
        return self.rx is not None and not self.suspended and not (self.alarms.alarms and self.alarms.stopping())

    def step_at(self, t):
        """(start ms in the day, dose rate µg/day, volume rate µL/day) of the basal step at ms t."""
        memo = self._span_memo
        if memo[0] <= t < memo[1] and memo[3] is self._steps:
            return memo[2]
        return self._span_at(t)[2]

    def _span_at(self, t):
        """(first ms, end ms, step, steps) of the basal step in force at ms t, on the clock.
        Kept: a polled pump asks about the same step thousands of times (status, _deliver)."""
        steps = self._steps
        day_start = t - t % DAY_MS
        offset = t - day_start
        i = 0
        last = len(steps) - 1
        while i < last and steps[i + 1][0] <= offset:
            i += 1
        end = steps[i + 1][0] if i < last else DAY_MS
        # the first step starts the day whatever its start says (as in integral())
        first = day_start if i == 0 else day_start + steps[i][0]
        memo = (first, day_start + end, steps[i], steps)
        self._span_memo = memo
        return memo

    def integral(self, t):
        """Σ over every ms τ < t of the basal volume rate at τ (µL/day × ms), from clock 0.

        Basal µL moved while delivering over (t0, t] = (phase + integral(t) - integral(t0)) // DAY_MS."""
        memo = self._integral_memo  # consecutive deliveries start where the last one ended
        if memo[0] == t and memo[1] is self._steps:
            return memo[2]
        steps = self._steps
        if len(steps) == 1:
            return steps[0][2] * t
        day = t // DAY_MS
        offset = t - day * DAY_MS
        i = 0
        last = len(steps) - 1
        while i < last and steps[i + 1][0] <= offset:
            i += 1
        return day * self._integral_per_day + self._integral_at_step[i] + steps[i][2] * (offset - steps[i][0])

    # ---- time ------------------------------------------------------------------------------
    def advance(self, target_ms):
        """Run the pump to target_ms, handling every event on the way at its exact ms.

        The work is bounded by the days the pump delivers (a reservoir or a battery runs out in
        a few thousand), never by the span: an idle pump's midnights change nothing once one
        has settled its alarms, so the span to its next real change is one step."""
        settled = False  # an event in this call brought the alarms in line with their causes
        while self.clock_ms < target_ms:
            start = self.clock_ms
            event_ms = self.next_event_ms(start)
            if settled and event_ms % DAY_MS == 0 and self._idle():
                event_ms = self._next_idle_change_ms(start, target_ms)
            if event_ms > target_ms:
                self._deliver(start, target_ms)
                return
            self._deliver(start, event_ms)
            self._events_at(event_ms)
            settled = True

    def _idle(self):
        """Whether a midnight would do nothing: no delivery, no bolus, no BASAL entry pending.

        (Its alarm update finds the causes it found at the last event: they change only at the
        moments _next_idle_change_ms names.)"""
        return self.bolus is None and self.basal_log_ul == 0 and not self.delivering()

    def _next_idle_change_ms(self, t0, target_ms):
        """The first ms after t0 at which an idle pump's state changes (a battery threshold, the
        end of an informational alarm's cause), or target_ms + 1 when none comes by then."""
        return self._capped_by_thresholds(t0, target_ms + 1)

    def _capped_by_thresholds(self, t0, t):
        """`t`, or the first moment before it after t0 at which a battery threshold is crossed or
        the daily-maximum or PTM lockout ends: the changes that time alone brings besides delivery."""
        battery = self.battery_ms
        eri = self.battery_eri_ms
        if battery > eri:
            due = t0 + battery - eri
        elif battery > 0:
            due = t0 + battery
        else:
            due = t
        if due < t:
            t = due
        until = self.daily_max_until_ms
        if t0 < until < t:
            t = until
        until = self.ptm_lockout_until_ms
        if t0 < until < t:
            t = until
        return t

    def next_event_ms(self, t0):
        """The next ms after t0 at which the model's state changes other than by delivery alone."""
        t = (t0 // DAY_MS + 1) * DAY_MS
        bolus = self.bolus
        if bolus is not None:
            end = bolus.start_ms + bolus.duration_ms
            if end < t:
                t = end
        t = self._capped_by_thresholds(t0, t)
        alarms = self.alarms
        # delivering(), written out: this runs at every advance, a polled pump's every request
        if self.rx is not None and not self.suspended and not (alarms.alarms and alarms.stopping()):
            left = self.reservoir_ul
            target = left - spec.LOW_RESERVOIR_UL if left > spec.LOW_RESERVOIR_UL else left
            reach = (self.phase + self._fastest_ul_per_day * (t - t0)) // DAY_MS  # at most this much
            if bolus is not None:
                reach += bolus.volume_ul - bolus.done_ul
            if left > 0 and reach >= target:
                crossing = self._reservoir_crossing_ms(t0, t, target)
                if crossing is not None:
                    t = crossing
        return t

    def _reservoir_crossing_ms(self, t0, end, target):
        """First ms in (t0, end] by which `target` µL have moved, or None."""
        base = self.phase - self.integral(t0)
        bolus = self.bolus
        done = bolus.done_ul if bolus is not None else 0
        integral = self.integral

        def moved(t):
            total = (base + integral(t)) // DAY_MS
            if bolus is not None:
                total += bolus.moved_by(t) - done
            return total

        if moved(end) < target:
            return None
        low, high = t0, end  # moved(low) < target <= moved(high): bisect to the first ms
        while high - low > 1:
            middle = (low + high) // 2
            if moved(middle) >= target:
                high = middle
            else:
                low = middle
        return high

    def _deliver(self, t0, t1):
        """Move the drug due in (t0, t1]; nothing else changes state in between (advance sees to it)."""
        if t1 <= t0:
            return
        battery = self.battery_ms - (t1 - t0)
        self.battery_ms = battery if battery > 0 else 0
        self.clock_ms = t1
        alarms = self.alarms
        if self.rx is None or self.suspended or (alarms.alarms and alarms.stopping()):  # not delivering()
            return
        bolus = self.bolus
        if bolus is None and self.phase + self._fastest_ul_per_day * (t1 - t0) < DAY_MS:
            # A host polling every ms: no µL can be due (the gate above costs no call, so long
            # spans, as a fast-forward's, go straight on); inside one basal step the integral
            # is linear, so the phase is all that changes.
            span = self._span_memo
            if not (span[0] <= t0 < span[1] and span[3] is self._steps):
                span = self._span_at(t0)
            if t1 < span[1]:
                self.phase += span[2][2] * (t1 - t0)
                return
        integral = self.integral
        start_integral = integral(t0)
        available = self.reservoir_ul
        base = self.phase - start_integral  # basal µL moved in (t0, t] = (base + integral(t)) // DAY_MS
        if bolus is not None:
            volume, begin, duration, done = bolus.volume_ul, bolus.start_ms, bolus.duration_ms, bolus.done_ul
        # Hourly buckets of the rolling window: only the last WINDOW_HOURS hours matter. Below
        # the reservoir never runs dry before t1 (advance stops there), so only t1 is capped.
        conc = self.conc
        buckets = self.buckets
        start = (t1 // HOUR_MS - (WINDOW_HOURS - 1)) * HOUR_MS - 1  # older hours leave no bucket
        before = 0  # µL moved in (t0, start]
        if start > t0:
            before = (base + integral(start)) // DAY_MS
            if bolus is not None:
                elapsed = start - begin
                before += (volume if elapsed >= duration else volume * elapsed // duration) - done
        else:
            start = t0
        per_day = self._integral_per_day
        hour_end = self._integral_hour_end
        while True:
            hour = (start + 1) // HOUR_MS
            end = (hour + 1) * HOUR_MS - 1
            if end >= t1:
                break
            moved = (base + (hour // 24) * per_day + hour_end[hour % 24]) // DAY_MS  # integral(end)
            if bolus is not None:
                elapsed = end - begin
                moved += (volume if elapsed >= duration else volume * elapsed // duration) - done
            if moved != before:
                buckets[hour] = buckets.get(hour, 0) + (moved - before) * conc
            before = moved
            start = end
        end_integral = integral(t1)
        self._integral_memo = (t1, self._steps, end_integral)
        basal = (base + end_integral) // DAY_MS
        if basal > available:
            basal = available
        extra = 0
        if bolus is not None:
            elapsed = t1 - begin
            extra = (volume if elapsed >= duration else volume * elapsed // duration) - done
            if extra > available - basal:
                extra = available - basal
        if basal + extra != before:
            buckets[hour] = buckets.get(hour, 0) + (basal + extra - before) * conc
        self.phase = (base + end_integral) % DAY_MS
        total = basal + extra
        self.reservoir_ul -= total
        self.delivered_ul += total
        self.delivered_ng += total * conc
        self.basal_log_ul += basal
        self.basal_log_ng += basal * conc
        if bolus is not None:
            bolus.done_ul += extra
            bolus.done_ng += extra * conc
        if len(buckets) > WINDOW_HOURS:
            oldest = t1 // HOUR_MS - (WINDOW_HOURS - 1)
            for hour in list(buckets):
                if hour < oldest:
                    del buckets[hour]

    def _events_at(self, t):
        """Everything due at ms t, in a fixed order: bolus end, daily BASAL entry, alarms."""
        bolus = self.bolus
        if bolus is not None and t >= bolus.end_ms:
            self.finish_bolus(t)
        if t % DAY_MS == 0:
            self.log_basal(t)
        self.refresh(t)

    # ---- alarms ------------------------------------------------------------------------------
    def causes(self, t):
        """Alarm codes whose cause is present at ms t."""
        faults = self.faults
        out = []
        if faults & (1 << spec.FAULT_MOTOR_STALL):
            out.append(spec.AL_MOTOR_STALL)
        if self.rx is not None and self.reservoir_ul == 0:
            out.append(spec.AL_EMPTY_RESERVOIR)
        if self.battery_ms == 0:
            out.append(spec.AL_END_OF_SERVICE)
        if faults & (1 << spec.FAULT_MEMORY_ERROR):
            out.append(spec.AL_MEMORY_ERROR)
        if faults & (1 << spec.FAULT_CATHETER_OCCLUSION):
            out.append(spec.AL_CATHETER_OCCLUSION)
        if self.rx is not None and self.reservoir_ul <= spec.LOW_RESERVOIR_UL:
            out.append(spec.AL_LOW_RESERVOIR)
        if self.battery_ms <= self.battery_eri_ms:
            out.append(spec.AL_ELECTIVE_REPLACEMENT)
        if t < self.daily_max_until_ms:
            out.append(spec.AL_DAILY_MAX_REACHED)
        if t < self.ptm_lockout_until_ms:
            out.append(spec.AL_PTM_LOCKOUT)
        return out

    def refresh(self, t):
        """Re-evaluate the alarms after any change; a bolus ends when delivery stops."""
        self.alarms.update(self.causes(t), t, self)
        if self.bolus is not None and not self.delivering():
            self.finish_bolus(t)

    def alarm_raised(self, alarm, t):
        self.log_entry(t, spec.LOG_ALARM_RAISED, alarm.code, alarm.instance)
        if self.sink is not None:
            self.sink.alarm_raised(alarm, t)

    def alarm_cleared(self, alarm, t):
        self.log_entry(t, spec.LOG_ALARM_CLEARED, alarm.code, alarm.instance)
        if self.sink is not None:
            self.sink.alarm_cleared(alarm, t)

    # ---- log ---------------------------------------------------------------------------------
    def log_entry(self, t, kind, code=0, value=0, value2=0):
        self.log.append(t // 1000, kind, code, value, value2)

    def log_basal(self, t):
        """A BASAL entry for the basal moved since the last one (µg remainders carry over)."""
        if self.basal_log_ul > 0:
            self.log_entry(t, spec.LOG_BASAL, 0, self.basal_log_ng // 1000, self.basal_log_ul)
            self.basal_log_ng %= 1000
            self.basal_log_ul = 0

    # ---- boluses -----------------------------------------------------------------------------
    def start_bolus(self, kind, dose_ug, volume_ul, t, duration_ms):
        self.bolus = Bolus(kind, dose_ug, volume_ul, t, duration_ms)
        self.boluses_started += 1
        if duration_ms <= 0:
            self.finish_bolus(t)

    def finish_bolus(self, t):
        """The bolus ends (completed or cut short): one BOLUS entry with what it moved."""
        bolus = self.bolus
        self.bolus = None
        self.log_entry(t, spec.LOG_BOLUS, bolus.kind, bolus.done_ng // 1000, bolus.done_ul)

    # ---- readings ----------------------------------------------------------------------------
    def battery_pct(self):
        full = self.battery_full_ms
        return (self.battery_ms * 100 + full - 1) // full

    def battery_state(self):
        if self.battery_ms == 0:
            return spec.BATT_EOS
        if self.battery_ms <= self.battery_eri_ms:
            return spec.BATT_ERI
        return spec.BATT_OK

    def delivered_24h_ng(self, t):
        # Kept per hour: the buckets change only with what is delivered (delivered_ng moves with
        # them; reset() and a load make a new dict), and GET_STATUS reads this at every poll.
        newest = t // HOUR_MS
        memo = self._window_memo
        if memo[0] == newest and memo[1] == self.delivered_ng and memo[2] is self.buckets:
            return memo[3]
        oldest = newest - (WINDOW_HOURS - 1)
        total = 0
        for hour, ng in self.buckets.items():
            if oldest <= hour <= newest:
                total += ng
        self._window_memo = (newest, self.delivered_ng, self.buckets, total)
        return total

    def basal_rates(self, t):
        """(µg/day, µL/day) being delivered at ms t: 0 unless therapy is RUNNING."""
        if not self.delivering():
            return 0, 0
        step = self.step_at(t)
        return step[1], step[2]

    def bolus_remaining_ug(self):
        bolus = self.bolus
        if bolus is None or bolus.volume_ul == 0:
            return 0
        return bolus.dose_ug * (bolus.volume_ul - bolus.done_ul) // bolus.volume_ul
