"""The mock's challenge–response authentication: role keys and the expected MAC (host side).

The per-device role keys are deliberately derivable from the serial number: this is a mock.
The firmware computes the same thing in pure Python (firmware_mock, no hmac module there).
"""

import hashlib
import hmac

from .codes import Role


def role_key(serial, role):
    """SHA-256("pumpmock-v1|" + role name + "|" + serial): the default key for a role."""
    name = Role(role).name.lower().encode("ascii")
    return hashlib.sha256(b"pumpmock-v1|" + name + b"|" + serial.encode("ascii")).digest()


def auth_mac(key, nonce, serial, role):
    """HMAC-SHA256(key, nonce + serial + role byte): the AUTH_RESPONSE mac."""
    return hmac.new(key, bytes(nonce) + serial.encode("ascii") + bytes([int(role)]), hashlib.sha256).digest()
