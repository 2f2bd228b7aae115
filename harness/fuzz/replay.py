"""Replay a saved fuzz failure against a target and say whether the target still has the defect.

    verdict = replay_failure("fuzz-failures/stateful-1-safety-exactly-once.jsonl", "pumpmock://?clock=virtual")
    verdict.fails, verdict.text

A stateful failure is judged by the model (harness.fuzz.campaign.check_transcript) over what the
target answers now; a mutation failure by the mutation oracle (every frame with a valid CRC
answered once, in order, every answer well formed). The target must pass the mock handshake
first, as every target must before anything else is sent to it.
"""

from .. import open_port
from ..transcript import HOST_TO_PUMP, PUMP_TO_HOST, read_transcript, replay, replayable


class Verdict:
    """fails: the defect is still there; text: what the replay showed."""

    def __init__(self, fails, text):
        self.fails = fails
        self.text = text


def replay_failure(path, url, timeout=None, baudrate=115200, allowlist=None):
    """Resend the transcript at `path` to a fresh `url` and judge the answers; returns a Verdict.
    ValueError for a transcript that is unreadable, empty or cut short."""
    entries = read_transcript(path)
    replayable(entries, path)
    meta = (entries.header or {}).get("meta", {})
    port = open_port(url, timeout=0.25 if timeout is None else timeout, baudrate=baudrate, allowlist=allowlist)
    try:
        try:
            replayed = replay(entries, port, timeout_s=max(timeout or 0.2, 0.2))
        except Exception as error:  # an in-process pump that crashes raises here
            return Verdict(True, "STILL FAILS: the target broke during the replay: %s: %s"
                           % (type(error).__name__, error))
    finally:
        port.close()
    replayed.header = entries.header
    what = meta.get("message", "").splitlines()[0] if meta.get("message") else meta.get("category", "")
    if meta.get("mode") == "mutation":
        problem = _mutation_problem(replayed)
    else:
        violation = _stateful_problem(replayed)
        problem = None if violation is None else "%s: %s" % (violation.category, violation)
    if problem is None:
        return Verdict(False, "FIXED: %d frames replayed and the target now answers as it must (was: %s)"
                       % (sum(1 for e in entries if e["dir"] == HOST_TO_PUMP), what or "a failure"))
    return Verdict(True, "STILL FAILS: %s" % problem)


def _stateful_problem(entries):
    from .campaign import check_transcript
    return check_transcript(entries)


def _mutation_problem(entries):
    from .mutation import Failure, check_output, expected_answers
    sent = b"".join(bytes.fromhex(e["wire"]) for e in entries if e["dir"] == HOST_TO_PUMP)
    received = b"".join(bytes.fromhex(e["wire"]) for e in entries if e["dir"] == PUMP_TO_HOST)
    expected, _bad = expected_answers(sent if sent.endswith(b"\x00") else sent + b"\x00")
    try:
        check_output(received, expected)
    except Failure as failure:
        return str(failure)
    return None
