"""`pumpmock diff A B`: where two transcripts differ, frame by frame (an emulator run against a board's, say).

    pumpmock diff emulator.jsonl board.jsonl
    pumpmock diff a.jsonl b.jsonl --ignore seq --ignore battery_pct

Frames are aligned on direction, kind, message and sequence number and compared by their decoded
fields. Ignored unless --strict: when a frame was seen and what differs between any two honest
runs (nonces, MACs, the host's session id, the pump's serial). The fields the pump stamps from
its own clock in whole seconds (clock_s, raised_s, cleared_s, ends_s, next_allowed_s) agree
within the clock's resolution, 1 s (--clock-tolerance to widen it, --strict for exact): two runs
read that clock a few ms apart, on either side of a second boundary at times. Such pairs are
listed as "within tolerance" and do not count; every other difference does. Exit status:
0 equivalent, 1 different, 2 a file could not be read.
"""

import sys

from .transcript import CLOCK_TOLERANCE_S, DEFAULT_IGNORE, compare, read_transcript


def add_arguments(parser):
    parser.add_argument("a", metavar="A", help="a transcript (JSON lines)")
    parser.add_argument("b", metavar="B", help="the transcript to compare it with")
    parser.add_argument("--ignore", action="append", default=[], metavar="NAME",
                        help="also ignore this entry key (seq, error), field (battery_pct) or dotted path "
                             "(prescription.drug); repeatable")
    parser.add_argument("--clock-tolerance", type=float, default=None, metavar="S",
                        help="how many seconds the pump-clock stamps (clock_s, raised_s, cleared_s, ends_s, "
                             "next_allowed_s) may differ and still agree (default %g: the clock's resolution)"
                             % CLOCK_TOLERANCE_S)
    parser.add_argument("--strict", action="store_true",
                        help="compare everything but the time stamps (nonces, MACs and serials too), and the "
                             "pump-clock stamps exactly")


def ignored(args):
    return tuple(args.ignore) + (("t",) if args.strict else DEFAULT_IGNORE)


def tolerance(args):
    if args.clock_tolerance is not None:
        return args.clock_tolerance
    return 0 if args.strict else CLOCK_TOLERANCE_S


def main(args):
    if args.clock_tolerance is not None and not args.clock_tolerance >= 0:
        print("pumpmock diff: --clock-tolerance %r: give seconds, zero or more" % args.clock_tolerance, file=sys.stderr)
        return 2
    try:
        a, b = read_transcript(args.a), read_transcript(args.b)
    except (OSError, ValueError) as error:
        print("pumpmock diff: %s" % error, file=sys.stderr)
        return 2
    found = compare(a, b, ignore=ignored(args), tolerance_s=tolerance(args))
    report(found.differences, len(a), len(b), within_tolerance=found.within_tolerance)
    return 1 if found.differences else 0


def report(differences, count_a, count_b, out=None, within_tolerance=()):
    out = out or sys.stdout
    for line in differences:
        print(line, file=out)
    for line in within_tolerance:
        print("within tolerance: %s" % line, file=out)
    tolerated = (", %d within the clock's tolerance" % len(within_tolerance)) if within_tolerance else ""
    if differences:
        print("%d difference%s%s (%d frames in a, %d in b)" % (
            len(differences), "" if len(differences) == 1 else "s", tolerated, count_a, count_b), file=out)
    else:
        print("equivalent%s: %d frames in a, %d in b" % (tolerated, count_a, count_b), file=out)
