"""Print the protocol document, generated from the catalog (the same text as docs/PROTOCOL.md)."""

import sys

from pumpmock.protocol.document import render


def add_arguments(parser):
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")


def main(args):
    text = render()
    if args.output:
        with open(args.output, "w") as out:
            out.write(text)
        return 0
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `pumpmock spec | head` closed the pipe early: fine
        pass
    return 0
