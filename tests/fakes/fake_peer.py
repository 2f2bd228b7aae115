"""A fake peer on stdin/stdout for interlock tests: answers HELLO the way it is told to.

    python tests/fakes/fake_peer.py garbage|wrong_magic|wrong_banner|silent|old_version
"""

import os
import sys

from pumpmock.protocol import FrameDecoder, encode_message
from pumpmock.protocol.examples import EXAMPLES

MODE = sys.argv[1]
HELLO_OK = EXAMPLES["HELLO"][1]
ANSWERS = {
    "wrong_magic": HELLO_OK._replace(magic=b"XXXX"),
    "wrong_banner": HELLO_OK._replace(banner="CLINICAL DEVICE"),
    "old_version": HELLO_OK._replace(protocol_version=0),
}


def main():
    decoder = FrameDecoder()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        data = os.read(stdin.fileno(), 4096)
        if not data:
            return
        sys.stderr.write("fake got %s\n" % data.hex())
        for frame in decoder.feed(data):
            if isinstance(frame, Exception) or MODE == "silent":
                continue
            if MODE == "garbage":
                stdout.write(b"\x13\x37garbage\x00\xff\xfe\x00")
            else:
                stdout.write(encode_message(ANSWERS[MODE], frame.seq))
            stdout.flush()


if __name__ == "__main__":
    main()
