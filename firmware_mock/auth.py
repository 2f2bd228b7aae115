"""Challenge–response authentication of a session role: nonces, HMAC-SHA256, failure lockout.

MicroPython has hashlib.sha256 but no hmac module, so HMAC (RFC 2104) is written out here.
Role keys default to SHA-256(b"pumpmock-v1|" + role name + b"|" + serial): deliberately
derivable, because this is a mock; the harness derives the same keys (protocol.auth).

Nonces never repeat over a pump's life. An unseeded pump (seed None, the default) hashes a
counter with a key drawn from the best random source there is at every boot, so no two runs,
boots or fresh emulators share one. A seeded pump (an explicit seed: a test run that must be
reproducible) hashes the seed, the nonce epoch and the counter; the epoch is saved and goes up
at every boot, so reboots never repeat a nonce; TC_RESET(seed), an explicit seed, restarts the
sequence of that seed on purpose (a fuzzer's example replays exactly).
The outstanding nonce is volatile; the failure count and the lockout are saved (core.py), so
power-cycling the pump gives no extra tries.
"""

import hashlib

from . import spec
from .errors import Refusal
from .packing import packer

_BLOCK = 64
_SEEDED_INPUT = packer("<IQQ")  # seed, nonce epoch, counter
_COUNTER = packer("<Q")
_KEY_SIZE = 16
ROLE_NAMES = {spec.ROLE_PATIENT: b"patient", spec.ROLE_CLINICIAN: b"clinician"}


def hmac_sha256(key, message):
    """HMAC-SHA256(key, message)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes([b ^ 0x36 for b in key]) + message).digest()
    return hashlib.sha256(bytes([b ^ 0x5C for b in key]) + inner).digest()


def default_role_key(serial, role):
    return hashlib.sha256(b"pumpmock-v1|" + ROLE_NAMES[role] + b"|" + serial.encode()).digest()


def random_bytes(size):
    """`size` bytes from the platform's random source: os.urandom where there is one (CPython,
    boards), else the random module (MicroPython's WebAssembly port seeds it from the host)."""
    try:
        import os
        return os.urandom(size)
    except (ImportError, AttributeError, NotImplementedError):
        pass
    import random
    return bytes([random.getrandbits(8) for _i in range(size)])


def expected_mac(key, nonce, serial, role):
    return hmac_sha256(key, nonce + serial.encode() + bytes([role]))


class Authenticator:
    """One outstanding nonce at a time; AUTH_MAX_FAILURES consecutive failures lock out."""

    def __init__(self, serial, role_keys, seed, epoch, failures=0, locked_until_ms=0):
        self.serial = serial
        self.role_keys = role_keys
        self.seed = seed  # None: nonces from a random key of this boot
        self.epoch = epoch  # seeded: the nonce epoch, so nonces never repeat across boots and resets
        self.key = random_bytes(_KEY_SIZE) if seed is None else None
        self.counter = 0
        self.nonce = None  # (nonce, role, issued_ms)
        self.nonce_seq = None  # the seq of the challenge that issued it
        self.failures = failures
        self.locked_until_ms = locked_until_ms

    def _check_lockout(self, now_ms):
        if now_ms < self.locked_until_ms:
            remaining_s = (self.locked_until_ms - now_ms + 999) // 1000
            raise Refusal(spec.E_AUTH_LOCKED_OUT, 0, spec.AUTH_LOCKOUT_S, remaining_s)

    def challenge(self, role, now_ms, seq=None):
        """A fresh 16-byte nonce for `role`; replaces any outstanding one. A retransmission (the
        same seq, the same role) of the challenge whose nonce is outstanding gets that nonce again:
        a duplicated or re-sent challenge must not replace the nonce the host is answering."""
        self._check_lockout(now_ms)
        outstanding = self.nonce
        if outstanding is not None and seq is not None and seq == self.nonce_seq and outstanding[1] == role:
            return outstanding[0]
        self.nonce_seq = seq
        if self.seed is None:
            material = b"pumpmock-nonce|" + self.key + _COUNTER.pack(self.counter)
        else:
            material = b"pumpmock-nonce|" + _SEEDED_INPUT.pack(self.seed & 0xFFFFFFFF, self.epoch, self.counter)
        self.counter += 1
        nonce = hashlib.sha256(material).digest()[:16]
        self.nonce = (nonce, role, now_ms)
        return nonce

    def respond(self, role, mac, now_ms):
        """The role on success; raises Refusal. Any attempt spends the outstanding nonce."""
        self._check_lockout(now_ms)
        outstanding = self.nonce
        self.nonce = None
        ok = False
        if outstanding is not None:
            nonce, nonce_role, issued_ms = outstanding
            fresh = now_ms - issued_ms <= spec.NONCE_LIFETIME_S * 1000
            if fresh and nonce_role == role:
                ok = expected_mac(self.role_keys[role], nonce, self.serial, role) == mac
        if ok:
            self.failures = 0
            return role
        self.failures += 1
        if self.failures >= spec.AUTH_MAX_FAILURES:
            self.failures = 0
            self.locked_until_ms = now_ms + spec.AUTH_LOCKOUT_S * 1000
        raise Refusal(spec.E_UNAUTHORIZED)
