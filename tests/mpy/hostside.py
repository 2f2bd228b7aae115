"""Host-side helpers for the conformance scripts that run under MicroPython (and CPython): files, hex, checks, auth.

The scripts in tests/mpy/ run inside the WebAssembly runner (`node firmware_mock/wasm_runner.mjs
--run SCRIPT`) and also under CPython, so this module uses only what both have: no f-strings,
no hmac module (MicroPython lacks it), no bytes.hex() (b"".hex() is b"" on MicroPython 1.27).
"""

import binascii
import hashlib
import sys


def read_text(path):
    """A host file's text: through the runner's pumpmock_host module under MicroPython."""
    try:
        import pumpmock_host
    except ImportError:
        with open(path) as handle:
            return handle.read()
    return pumpmock_host.read_text(path)


def tohex(data):
    return binascii.hexlify(data).decode()


def unhex(text):
    return binascii.unhexlify(text)


def is_micropython():
    return sys.implementation.name == "micropython"


class Checks:
    """Collects named failures instead of stopping at the first, and prints a summary."""

    def __init__(self, title):
        self.title = title
        self.passed = 0
        self.failures = []

    def check(self, ok, name, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failures.append("%s: %s" % (name, detail))
        return ok

    def equal(self, got, wanted, name, what):
        return self.check(got == wanted, name, "%s: got %r, wanted %r" % (what, got, wanted))

    def summary(self):
        """Prints every failure and a one-line summary; the exit status (0 when all passed)."""
        for failure in self.failures:
            print("FAIL %s" % failure)
        print("%s on %s: %d checks passed, %d failed" % (self.title, platform(), self.passed,
                                                         len(self.failures)))
        return 1 if self.failures else 0


def platform():
    version = sys.implementation.version
    return "%s %d.%d.%d" % (sys.implementation.name, version[0], version[1], version[2])


# ---- the documented authentication (docs/PROTOCOL.md), written out on the host side ----------
_BLOCK = 64


def hmac_sha256(key, message):
    """RFC 2104 HMAC with SHA-256."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes([b ^ 0x36 for b in key]) + message).digest()
    return hashlib.sha256(bytes([b ^ 0x5C for b in key]) + inner).digest()


def role_key(serial, role_name):
    """SHA-256("pumpmock-v1|" + role name + "|" + serial): the mock's derivable role key."""
    return hashlib.sha256(b"pumpmock-v1|" + role_name + b"|" + serial.encode()).digest()


def auth_mac(serial, role, role_name, nonce):
    """The AUTH_RESPONSE mac: HMAC-SHA256(role key, nonce + serial + role byte)."""
    return hmac_sha256(role_key(serial, role_name), nonce + serial.encode() + bytes([role]))
