"""Test control from the command line, to put the pump in a state by hand between two app runs
(the README's reproductions). Not a variant, and not part of the app.

    python _blind3_tc.py PORT inject MOTOR_STALL | clear MOTOR_STALL | reservoir 1500 | warp 120
    python _blind3_tc.py PORT alarms | status | rx

Each run is its own session (HELLO with a new host session id, no role: test control needs none).
"""

import sys

import serial

from pumpmock.harness.client import PumpSession
from pumpmock.protocol.codes import Fault


def main(argv):
    port, command, rest = argv[0], argv[1], argv[2:]
    session = PumpSession(serial.Serial(port, 115200, timeout=0.05))
    try:
        session.hello()
        tc = session.test
        if command == "inject":
            print(tc.inject_fault(Fault[rest[0]]))
        elif command == "clear":
            tc.clear_fault(Fault[rest[0]])
        elif command == "reservoir":
            tc.set_reservoir(int(rest[0]))
        elif command == "warp":
            print(tc.warp_clock(int(rest[0])))
        elif command == "alarms":
            for alarm in tc.alarms():
                print(alarm)
        elif command == "status":
            print(tc.status())
        elif command == "rx":
            print(tc.prescription())
        else:
            raise SystemExit("unknown command %r" % command)
    finally:
        session.close()


if __name__ == "__main__":
    main(sys.argv[1:])
