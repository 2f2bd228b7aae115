"""`pumpmock replay TRANSCRIPT [URL]`: send a recorded session's frames again and say what changed.

    pumpmock replay board.jsonl                         against the emulator
    pumpmock replay emulator.jsonl /dev/ttyACM0 --save board.jsonl

The host's frames go out as they were written (one recorded write, one write); after each, the
pump's answers are awaited as many as came in the original. The new run is compared with the
original as `pumpmock diff` does, and saved with --save. The target must pass the interlock and
the mock's handshake first, on the connection the frames then go to, as every target must. A
transcript that is empty (nothing the host sent) or cut short is refused: a replay of part of a
session cannot show the whole is equivalent. Exit status: 0 equivalent, 1 different,
2 unreadable, empty or truncated transcript, or a target refused or out of reach.
"""

import sys

from . import DEFAULT_URL, normalize_url, open_port
from .cli import baud_rate, positive_seconds
from .diff_cmd import report
from .errors import HarnessError
from .interlock import add_allow_arguments, allowlist_from_args
from .transcript import DEFAULT_IGNORE, TranscriptRecorder, diff, read_transcript, replay, replayable


def add_arguments(parser):
    parser.add_argument("transcript", help="the recorded session (JSON lines)")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help="the target (default %(default)s)")
    parser.add_argument("--save", metavar="FILE", help="record the replayed session to FILE")
    parser.add_argument("--paced", action="store_true",
                        help="keep the recorded time between writes, so what time changes happens again "
                             "(free on the emulator's virtual clock; real time on anything else)")
    parser.add_argument("--timeout", type=positive_seconds, default=0.5, metavar="S",
                        help="how long to wait for each expected answer (default %(default)s s)")
    parser.add_argument("--baud", type=baud_rate, default=115200, metavar="N", help="baud rate of a serial target")
    parser.add_argument("--ignore", action="append", default=[], metavar="NAME",
                        help="also ignore this key or field when comparing (see pumpmock diff)")
    add_allow_arguments(parser)


def main(args):
    url = normalize_url(args.url)
    try:
        original = read_transcript(args.transcript)
        replayable(original, args.transcript)
    except (OSError, ValueError) as error:
        print("pumpmock replay: %s" % error, file=sys.stderr)
        return 2
    try:
        port = open_port(url, timeout=args.timeout, baudrate=args.baud, allowlist=allowlist_from_args(args))
    except (HarnessError, OSError) as error:
        print("pumpmock replay: cannot replay against %s: %s" % (url, error), file=sys.stderr)
        return 2
    recorder = TranscriptRecorder(args.save, meta={"replay_of": args.transcript, "url": url}) if args.save else None
    try:
        again = replay(original, port, timeout_s=args.timeout, recorder=recorder, paced=args.paced)
    except OSError as error:
        print("pumpmock replay: the target failed during the replay: %s" % error, file=sys.stderr)
        return 1
    finally:
        port.close()
        if recorder:
            recorder.close()
    differences = diff(original, again, ignore=tuple(args.ignore) + DEFAULT_IGNORE)
    report(differences, len(original), len(again))
    return 1 if differences else 0
