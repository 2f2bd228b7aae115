"""Seeded defect: the port is opened without a read timeout (pyserial's default, timeout=None).

Effect: a read blocks until a byte comes; when the pump goes silent, the app hangs forever
instead of retransmitting and reporting a link failure. NOT an example to follow.
"""

import sys

from _seed import app, pumplink

pumplink.READ_TIMEOUT_S = None  # DEFECT: "serial.Serial(path, 115200)" blocks forever in read()

if __name__ == "__main__":
    sys.exit(app.main())
