"""Test control by hand, to put the mock pump in a state between two app runs (the README's
reproductions in _blind4_repro.sh). Not a variant and not part of the app; it speaks through the
app's own PumpLink (HELLO only: test control needs no role).

    python _blind4_tc.py PORT inject MOTOR_STALL | clear MOTOR_STALL | reservoir 1500 | battery 0
    python _blind4_tc.py PORT warp 7200 | fill-log 40 | status | rx | alarms | counters | clock
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blind4_seed import pumplink  # noqa: E402
from pumpmock.protocol import messages as m  # noqa: E402
from pumpmock.protocol.codes import Fault  # noqa: E402


def main(argv):
    port, command, rest = argv[0], argv[1], argv[2:]
    link = pumplink.PumpLink(pumplink.open_port(port))
    try:
        link.handshake()
        if command == "inject":
            print(link.request(m.TcInjectFaultRequest(Fault[rest[0]])))
        elif command == "clear":
            link.request(m.TcClearFaultRequest(Fault[rest[0]]))
        elif command == "reservoir":
            link.request(m.TcSetReservoirRequest(int(rest[0])))
        elif command == "battery":
            link.request(m.TcSetBatteryRequest(int(rest[0])))
        elif command == "warp":
            print(link.request(m.TcWarpClockRequest(int(rest[0]))))
        elif command == "fill-log":  # N one-second warps: N TEST_CONTROL log entries
            for _ in range(int(rest[0])):
                link.request(m.TcWarpClockRequest(1))
        elif command == "status":
            print(link.request(m.TcGetStatusRequest()))
        elif command == "rx":
            print(link.request(m.TcGetPrescriptionRequest()))
        elif command == "alarms":
            for alarm in link.request(m.TcGetAlarmsRequest()).alarms:
                print(alarm)
        elif command == "counters":
            print(link.request(m.TcReadCountersRequest()))
        else:
            raise SystemExit("unknown command %r" % command)
    except pumplink.PumpRefused as refused:
        print("refused: %s" % refused.error)
    finally:
        link.close()


if __name__ == "__main__":
    main(sys.argv[1:])
