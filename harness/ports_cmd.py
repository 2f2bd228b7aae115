"""`pumpmock ports`: the serial ports on this machine, and whether the interlock would open each, and why.

    pumpmock ports                         every port pyserial lists
    pumpmock ports --allow-usb 1234:5678   the same, as a run with that option would see them

One line per port: its path, USB vendor:product id, what it says it is, and the interlock's
verdict (the same check every pumpmock command makes before it opens a port, see
docs/interlock.md). Nothing is opened. Exit status: 0, or 2 when the allowlist's configuration
or an --allow option cannot be read.
"""

import json
import sys

from . import interlock
from .errors import SafetyInterlockError
from .interlock import add_allow_arguments, allowlist_from_args


def add_arguments(parser):
    add_allow_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the list as JSON instead of a table")


def verdicts(allowlist, comports=None):
    """[{device, usb, description, allowed, why}] for every port listed, in path order."""
    listed = sorted((comports or interlock._comports)(), key=lambda port: port.device)
    rows = []
    for port in listed:
        try:
            why, allowed = interlock.check_port(port.device, allowlist, comports=lambda: listed), True
        except SafetyInterlockError as refusal:
            why, allowed = str(refusal), False
        except OSError as error:  # NoSuchPortError: listed, but gone by now
            why, allowed = str(error), False
        rows.append({"device": port.device,
                     "usb": None if port.vid is None else "%04x:%04x" % (port.vid, port.pid or 0),
                     "description": port.description or port.manufacturer or "",
                     "allowed": allowed, "why": _first_sentence(why)})
    return rows


def _first_sentence(text):
    """The verdict without the how-to that follows it (the footer says that once)."""
    head, _, _rest = text.partition(". ")
    for prefix in ("refusing ",):
        head = head[len(prefix):] if head.startswith(prefix) else head
    device, sep, reason = head.partition(": ")
    return reason if sep else head


def main(args):
    try:
        allowlist = allowlist_from_args(args)
    except ValueError as error:
        print("pumpmock ports: %s" % error, file=sys.stderr)
        return 2
    rows = verdicts(allowlist)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no serial ports found")
        return 0
    width = max(len(row["device"]) for row in rows)
    for row in rows:
        print("%-*s  %-9s  %-28.28s  %s: %s" % (width, row["device"], row["usb"] or "-", row["description"],
                                                "allowed" if row["allowed"] else "REFUSED", row["why"]))
    if not all(row["allowed"] for row in rows):
        print("\nto open a refused port that is your own board or adapter: --allow-usb VID:PID or "
              "--allow-port PATH (pytest: --pump-allow-usb, --pump-allow-port), PUMPMOCK_ALLOW_USB, or "
              "[interlock] in ~/.config/pumpmock/config.toml; see docs/interlock.md")
    return 0
