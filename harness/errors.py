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


# One class per catalog error code, written out so that IDEs, type checkers and readers see them;
# tests/test_errors.py fails when a code has no class, two, or one under another name.

class UnknownMessageError(PumpRefusedError):
    """NAK UNKNOWN_MESSAGE: the msg_id is not a request the catalog knows."""

    code = Error.UNKNOWN_MESSAGE


class BadLengthError(PumpRefusedError):
    """NAK BAD_LENGTH: the payload length is wrong; limit_value is the length expected, actual_value the one
    sent."""

    code = Error.BAD_LENGTH


class BadVersionError(PumpRefusedError):
    """NAK BAD_VERSION: the pump does not speak this protocol version; limit_value is the one it does."""

    code = Error.BAD_VERSION


class OutOfRangeError(PumpRefusedError):
    """NAK OUT_OF_RANGE: a field is outside its range or code set; subject is its 1-based position."""

    code = Error.OUT_OF_RANGE


class UnauthorizedError(PumpRefusedError):
    """NAK UNAUTHORIZED: no session role, or an authentication response that is forged, replayed or stale."""

    code = Error.UNAUTHORIZED


class WrongRoleError(PumpRefusedError):
    """NAK WRONG_ROLE: the session's role may not send this; subject is the role needed."""

    code = Error.WRONG_ROLE


class AuthLockedOutError(PumpRefusedError):
    """NAK AUTH_LOCKED_OUT: too many failed logins; limit_value is the lockout in s, actual_value what
    is left."""

    code = Error.AUTH_LOCKED_OUT


class HardLimitError(PumpRefusedError):
    """NAK HARD_LIMIT: a hard limit refused the request; `limit` names it, limit_value and actual_value give
    the numbers."""

    code = Error.HARD_LIMIT


class SoftLimitNeedsOverrideError(PumpRefusedError):
    """NAK SOFT_LIMIT_NEEDS_OVERRIDE: a soft limit was crossed and not overridden; `limit` names it."""

    code = Error.SOFT_LIMIT_NEEDS_OVERRIDE


class OverrideMismatchError(PumpRefusedError):
    """NAK OVERRIDE_MISMATCH: an override names a limit with no soft finding; `limit` names it."""

    code = Error.OVERRIDE_MISMATCH


class LockoutActiveError(PumpRefusedError):
    """NAK LOCKOUT_ACTIVE: a PTM bolus inside its lockout; limit_value is the lockout in s, actual_value what
    is left."""

    code = Error.LOCKOUT_ACTIVE


class MaxActivationsError(PumpRefusedError):
    """NAK MAX_ACTIVATIONS: the PTM activations per 24 h are used up; limit_value is the maximum, actual_value
    the count."""

    code = Error.MAX_ACTIVATIONS


class DailyMaxReachedError(PumpRefusedError):
    """NAK DAILY_MAX_REACHED: the rolling 24 h maximum would be passed; limit_value in µg, actual_value the µg
    it would reach."""

    code = Error.DAILY_MAX_REACHED


class ReservoirInsufficientError(PumpRefusedError):
    """NAK RESERVOIR_INSUFFICIENT: not enough drug left; limit_value is the µL there, actual_value the µL
    needed."""

    code = Error.RESERVOIR_INSUFFICIENT


class TherapyStoppedError(PumpRefusedError):
    """NAK THERAPY_STOPPED: an alarm has stopped therapy, so nothing is delivered; subject is the alarm."""

    code = Error.THERAPY_STOPPED


class NotProgrammedError(PumpRefusedError):
    """NAK NOT_PROGRAMMED: there is no prescription yet."""

    code = Error.NOT_PROGRAMMED


class BusyError(PumpRefusedError):
    """NAK BUSY: a bolus is already running."""

    code = Error.BUSY


class NotInTestModeError(PumpRefusedError):
    """NAK NOT_IN_TEST_MODE: test control sent to a pump that is not in test mode."""

    code = Error.NOT_IN_TEST_MODE


class SequenceReusedError(PumpRefusedError):
    """NAK SEQUENCE_REUSED: a state-changing request reused a recent seq with different content."""

    code = Error.SEQUENCE_REUSED


class NoSuchAlarmError(PumpRefusedError):
    """NAK NO_SUCH_ALARM: no alarm with that code and instance waits for an acknowledgement."""

    code = Error.NO_SUCH_ALARM


class InvalidStateError(PumpRefusedError):
    """NAK INVALID_STATE: the request makes no sense in the therapy's current state."""

    code = Error.INVALID_STATE


class PtmDisabledError(PumpRefusedError):
    """NAK PTM_DISABLED: the prescription allows no PTM bolus."""

    code = Error.PTM_DISABLED


REFUSALS = {cls.code: cls for cls in (
    UnknownMessageError, BadLengthError, BadVersionError, OutOfRangeError, UnauthorizedError,
    WrongRoleError, AuthLockedOutError, HardLimitError, SoftLimitNeedsOverrideError,
    OverrideMismatchError, LockoutActiveError, MaxActivationsError, DailyMaxReachedError,
    ReservoirInsufficientError, TherapyStoppedError, NotProgrammedError, BusyError, NotInTestModeError,
    SequenceReusedError, NoSuchAlarmError, InvalidStateError, PtmDisabledError)}


def refusal(nak, request=None):
    """The PumpRefusedError subclass instance for a Nak."""
    return REFUSALS.get(nak.code, PumpRefusedError)(nak, request)
