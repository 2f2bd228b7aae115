"""The `pumpmock` command: serve the emulator, check a target, decode frames, print the protocol.

Each subcommand lives in the module that does the work; this file only wires them up, so
`pumpmock --help` stays the table of contents.
"""

import argparse
import importlib
import sys

# name -> (module, one-line help). Each module has add_arguments(parser) and main(args) -> int.
SUBCOMMANDS = {
    "bench": ("pumpmock.harness.bench.run", "run checks, fuzzing, link measurements and an emulator diff against a board"),
    "check": ("pumpmock.harness.check_cmd", "run the conformance checks against a target (default: the emulator)"),
    "decode": ("pumpmock.harness.transcript", "decode hex bytes or a transcript file into readable frames"),
    "diff": ("pumpmock.harness.diff_cmd", "compare two transcripts frame by frame (an emulator run with a board's)"),
    "flash": ("pumpmock.harness.bench.flash", "deploy the pump firmware to a MicroPython board and verify it"),
    "fuzz": ("pumpmock.harness.fuzz_cmd", "fuzz a pump for a time budget; failures saved as replayable transcripts"),
    "micropython": ("pumpmock.harness.micropython_cmd", "run the pump firmware under real MicroPython on stdin/stdout "
                    "(exec:pumpmock micropython); --setup installs its npm package"),
    "perf": ("pumpmock.harness.bench.perf", "run every benchmark and write bench/results/report.json"),
    "ports": ("pumpmock.harness.ports_cmd", "list the serial ports here and whether the interlock would open each, and why"),
    "proxy": ("pumpmock.harness.proxy", "relay between two ports through a faulty line (put an app behind faults)"),
    "replay": ("pumpmock.harness.replay_cmd", "send a recorded session's frames to a target again and show what changed"),
    "serve": ("pumpmock.harness.serve_cmd", "serve the emulated pump on a pseudo-terminal, TCP (raw or RFC 2217) or stdio"),
    "soak": ("pumpmock.harness.soak", "feed a million hostile and mutated frames to the firmware core and the host "
             "decoder; report crashes, hangs, invariant breaks, the slowest input"),
    "spec": ("pumpmock.harness.spec_cmd", "print the protocol document (docs/PROTOCOL.md)"),
}

EPILOG = """\
examples:
  pumpmock check                           conformance checks against the in-process emulator
  pumpmock check "exec:pumpmock micropython --test-mode"   the firmware under real MicroPython
  pumpmock decode 02 01 06 10 04 01 24 db 00  a frame in hex, as readable text
  pumpmock fuzz --budget 5m --seed 7      fuzz the emulator; failures land in fuzz-failures/
  pumpmock ports                           the serial ports here, and which pumpmock may open
  pumpmock proxy pty /dev/ttyACM0 --faults drop=1%,unit=frame   an app on a pty, behind a lossy line
  pumpmock replay board.jsonl --save emulator.jsonl   a board's session against the emulator, and the diff
  pumpmock spec | less

pumpmock never talks to a real implant: hardware ports are checked against a USB allowlist (on
the device actually opened) and every peer must answer the mock's handshake (NOT FOR CLINICAL
USE) before anything else is sent (docs/interlock.md). Usage errors exit with status 2.
"""


def positive_seconds(text):
    """argparse type: a duration in seconds greater than zero (--timeout)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("%r is not a number of seconds greater than zero" % text)
    return value


def baud_rate(text):
    """argparse type: a line rate, a whole number of baud greater than zero (--baud)."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError("%r is not a baud rate (a whole number such as 115200)" % text)
    return int(text)


def positive_int(text):
    """argparse type: a whole number greater than zero (--steps)."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError("%r is not a whole number greater than zero" % text)
    return int(text)


def build_parser(command=None):
    """The parser; only `command`'s module is imported (its options parsed), so `pumpmock --help`
    and every other command keep working when one command's module cannot be imported."""
    parser = argparse.ArgumentParser(
        prog="pumpmock", description="Test harness and emulator for a fictional implantable drug pump.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if name != command:
            commands.add_parser(name, help=help_text, add_help=False)
            continue
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.main)
    return parser


def _command_in(argv):
    """The subcommand argv names (its first word that is not an option), if it is one of ours."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_in(argv)
    try:
        parser = build_parser(command)
    except ImportError as error:
        print("pumpmock %s: cannot load %s: %s" % (command, SUBCOMMANDS[command][0], error), file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
