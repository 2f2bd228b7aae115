"""`pumpmock diff A B`: where two transcripts differ, frame by frame (an emulator run against a board's, say).

    pumpmock diff emulator.jsonl board.jsonl
    pumpmock diff a.jsonl b.jsonl --ignore seq --ignore battery_pct

Frames are aligned on direction, kind, message and sequence number and compared by their decoded
fields. Ignored unless --strict: when a frame was seen and what differs between any two honest
runs (nonces, MACs, the host's session id, the pump's serial). Exit status: 0 equivalent,
1 different, 2 a file could not be read.
"""

import sys

from .transcript import DEFAULT_IGNORE, diff, read_transcript


def add_arguments(parser):
    parser.add_argument("a", metavar="A", help="a transcript (JSON lines)")
    parser.add_argument("b", metavar="B", help="the transcript to compare it with")
    parser.add_argument("--ignore", action="append", default=[], metavar="NAME",
                        help="also ignore this entry key (seq, error), field (battery_pct) or dotted path "
                             "(prescription.drug); repeatable")
    parser.add_argument("--strict", action="store_true",
                        help="compare everything but the time stamps (nonces, MACs and serials too)")


def ignored(args):
    return tuple(args.ignore) + (("t",) if args.strict else DEFAULT_IGNORE)


def main(args):
    try:
        a, b = read_transcript(args.a), read_transcript(args.b)
    except (OSError, ValueError) as error:
        print("pumpmock diff: %s" % error, file=sys.stderr)
        return 2
    differences = diff(a, b, ignore=ignored(args))
    report(differences, len(a), len(b))
    return 1 if differences else 0


def report(differences, count_a, count_b, out=None):
    out = out or sys.stdout
    for line in differences:
        print(line, file=out)
    if differences:
        print("%d difference%s (%d frames in a, %d in b)" % (
            len(differences), "" if len(differences) == 1 else "s", count_a, count_b), file=out)
    else:
        print("equivalent: %d frames in a, %d in b" % (count_a, count_b), file=out)
