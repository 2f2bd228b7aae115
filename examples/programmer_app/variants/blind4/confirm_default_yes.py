"""Seeded defect (blind4): the bolus confirmation treats anything but "n" as yes.

The prompt still reads "[y/N]" (No is the default), but the check was inverted to refuse only an
explicit "n"/"no": a clinician who presses Enter, or a wrapper that closes stdin, starts the
clinician or patient bolus.
NOT an example to follow.
"""

import sys

from _blind4_seed import app


def confirm(args, question):
    if args.yes:
        return
    print("confirm: %s [y/N] " % question, file=sys.stderr, end="", flush=True)
    if sys.stdin.readline().strip().lower() in ("n", "no"):
        raise app.Refused("not confirmed: nothing was sent")


app.confirm = confirm

if __name__ == "__main__":
    sys.exit(app.main())
