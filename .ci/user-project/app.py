"""The team's app: `python app.py --port PORT status` prints the reservoir in mL."""

import argparse
import sys

from protocol import LinkFailed, PumpLink


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True)
    parser.add_argument("command", choices=["status"])
    args = parser.parse_args()
    link = PumpLink(args.port)
    try:
        identity = link.hello()
        link.login_as_patient()
        status = link.status()
    except LinkFailed as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        link.close()
    print("pump %s: reservoir %d.%03d mL" % (identity.serial, status.reservoir_ul // 1000, status.reservoir_ul % 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
