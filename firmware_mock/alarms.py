"""The alarm list: instances raised and cleared from their causes, latching, acknowledgement, re-announcement.

An alarm code has at most one instance in the list. Its state is ACTIVE while its cause is
present; when the cause ends, a latching alarm that was not acknowledged becomes LATCHED
and stays listed, any other alarm leaves the list. An unacknowledged alarm is announced
again every re-announce interval of its priority; announce_count is therefore a function of
time: 1 + (now - raised) // interval, frozen by ACK_ALARM.
"""

from . import spec

STOPPING = (spec.AL_MOTOR_STALL, spec.AL_EMPTY_RESERVOIR, spec.AL_END_OF_SERVICE, spec.AL_MEMORY_ERROR,
            spec.AL_CATHETER_OCCLUSION)
_CODES = tuple(sorted(spec.ALARMS))


class Alarm:
    def __init__(self, code, instance, raised_ms, latched=False, acked_count=0):
        self.code = code
        self.instance = instance
        self.raised_ms = raised_ms
        self.latched = latched
        self.acked_count = acked_count  # 0: not acknowledged; else announce_count when it was

    @property
    def interval_ms(self):
        return spec.ALARMS[self.code][2] * 1000

    def announce_count(self, now_ms):
        if self.acked_count:
            return self.acked_count
        return 1 + (now_ms - self.raised_ms) // self.interval_ms

    def next_announce_ms(self, now_ms):
        """When the next re-announcement is due (None once acknowledged)."""
        if self.acked_count:
            return None
        return self.raised_ms + self.announce_count(now_ms) * self.interval_ms

    def entry(self, now_ms):
        """The alarm_entry layout as a dict (announce_count saturates at 255 on the wire)."""
        priority, latching, _interval = spec.ALARMS[self.code]
        count = self.announce_count(now_ms)
        return {"code": self.code, "priority": priority, "latching": 1 if latching else 0,
                "state": spec.ALST_LATCHED if self.latched else spec.ALST_ACTIVE,
                "instance": self.instance, "raised_s": (self.raised_ms // 1000) & 0xFFFFFFFF,
                "announce_count": count if count < 255 else 255}


class AlarmList:
    def __init__(self):
        self.clear()

    def clear(self):
        self.alarms = []
        self.last_instance = 0

    def find(self, code):
        for alarm in self.alarms:
            if alarm.code == code:
                return alarm
        return None

    def stopping(self):
        """The lowest code of a listed alarm that stops delivery, or 0."""
        found = 0
        for alarm in self.alarms:
            if alarm.code in STOPPING and (found == 0 or alarm.code < found):
                found = alarm.code
        return found

    def update(self, causes, now_ms, sink):
        """Bring the list in line with the present causes, in alarm-code order."""
        if not causes and not self.alarms:
            return
        for code in _CODES:
            alarm = self.find(code)
            if code in causes:
                if alarm is None:
                    if len(self.alarms) < spec.MAX_ACTIVE_ALARMS:
                        self.last_instance = self.last_instance % 0xFFFF + 1
                        alarm = Alarm(code, self.last_instance, now_ms)
                        self.alarms.append(alarm)
                        sink.alarm_raised(alarm, now_ms)
                elif alarm.latched:
                    alarm.latched = False
            elif alarm is not None:
                if spec.ALARMS[code][1] and not alarm.acked_count:
                    alarm.latched = True
                else:
                    self.alarms.remove(alarm)
                    sink.alarm_cleared(alarm, now_ms)

    def acknowledge(self, code, instance, now_ms):
        """ACK_ALARM: freezes announce_count. False when no listed, unacknowledged instance matches.

        A latched alarm acknowledged here leaves the list at the next update()."""
        alarm = self.find(code)
        if alarm is None or alarm.instance != instance or alarm.acked_count:
            return False
        alarm.acked_count = alarm.announce_count(now_ms)
        return True
