"""Exceptions the harness raises: link trouble, refusals that mirror the protocol's error codes, safety.

    try:
        session.program(rx)
    except HardLimitError as refusal:
        print(refusal.limit, refusal.limit_value, refusal.actual_value)

Every NAK becomes a PumpRefusedError subclass named after its error code (HARD_LIMIT ->
HardLimitError), so tests can catch exactly the refusal they expect.
"""

import serial

from pumpmock.protocol.codes import Alarm, Error, Limit, Role
from pumpmock.protocol.errors import RemoteProtocolError


class HarnessError(Exception):
    """Base of everything the harness raises on purpose."""


class LinkError(HarnessError):
    """The line failed: no answer after the retries, or the port closed."""


class LinkTimeout(LinkError):
    """No answer to a request after every retransmission."""


class PortError(LinkError, serial.SerialException):
    """The port itself failed: closed, unplugged, the child behind exec:// gone, a write that never drained.

    Also a serial.SerialException (so an OSError), for code that already catches pyserial's errors.
    """


class BadAnswerError(HarnessError):
    """The pump answered, but with something that cannot be right: never act on it."""


class MalformedAnswerError(BadAnswerError, RemoteProtocolError):
    """An answer with a good CRC that does not decode: a wrong length, an unknown code, a field
    out of its range. Still a RemoteProtocolError (its reason and raw bytes are the codec's)."""


class ImplausibleAnswerError(BadAnswerError):
    """An answer that decodes but contradicts itself or the drug library (harness.plausibility).
    `problems` lists each contradiction; `answer` is the decoded message."""

    def __init__(self, problems, answer):
        self.problems = list(problems)
        self.answer = answer
        super().__init__("%s cannot be true: %s" % (type(answer).__name__, "; ".join(self.problems)))


class SafetyInterlockError(HarnessError):
    """The harness refused to talk to this peer or port: it may not be the mock."""


class UsbDeviceNotAllowed(SafetyInterlockError):
    """A hardware serial port whose USB VID:PID is not on the allowlist."""


class NotAMockError(SafetyInterlockError):
    """The peer did not complete the mock handshake (magic, banner, version)."""


class PumpRefusedError(HarnessError):
    """The pump answered NAK. `code` is the Error, the rest says which limit applied."""

    code = None

    def __init__(self, nak, request=None):
        self.nak = nak
        self.request = request
        self.error = Error(nak.code) if nak.code in Error._value2member_map_ else nak.code
        self.subject = nak.subject
        self.limit_value = nak.limit_value
        self.actual_value = nak.actual_value
        super().__init__(self._describe())

    @property
    def limit(self):
        """The Limit the refusal names, when its subject is a limit."""
        return Limit(self.subject) if self.subject in Limit._value2member_map_ else None

    def _describe(self):
        name = getattr(self.error, "name", str(self.error))
        what = type(self.request).__name__ if self.request is not None else "request 0x%02x" % self.nak.msg_id
        text = "pump refused %s: %s" % (what, name)
        subject = self._subject_text()
        if subject:
            text += " (%s)" % subject
        if self.limit_value or self.actual_value:
            text += ": limit %d, actual %d" % (self.limit_value, self.actual_value)
        return text

    def _subject_text(self):
        if not self.subject:
            return ""
        if self.error == Error.THERAPY_STOPPED or self.error == Error.NO_SUCH_ALARM:
            return "alarm %s" % _name(Alarm, self.subject)
        if self.error == Error.WRONG_ROLE:
            return "needs role %s" % _name(Role, self.subject)
        if self.error in (Error.OUT_OF_RANGE, Error.BAD_LENGTH):
            return "field %d" % self.subject
        return "limit %s" % _name(Limit, self.subject)


def _name(enum, value):
    return enum(value).name if value in enum._value2member_map_ else str(value)


def _refusal_class(code):
    name = "".join(part.title() for part in code.name.split("_")) + "Error"
    return type(name, (PumpRefusedError,), {"code": code, "__doc__": "NAK %s." % code.name,
                                             "__module__": __name__})


REFUSALS = {code: _refusal_class(code) for code in Error}
globals().update({cls.__name__: cls for cls in REFUSALS.values()})


def refusal(nak, request=None):
    """The PumpRefusedError subclass instance for a Nak."""
    return REFUSALS.get(nak.code, PumpRefusedError)(nak, request)
