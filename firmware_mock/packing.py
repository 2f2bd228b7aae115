"""Precompiled struct formats: struct.Struct on CPython, a stand-in with the same calls on MicroPython."""

import struct


class _Packer:
    """What the firmware uses of struct.Struct (MicroPython's struct module has no Struct class)."""

    def __init__(self, fmt):
        self.format = fmt
        self.size = struct.calcsize(fmt)

    def pack(self, *values):
        return struct.pack(self.format, *values)

    def unpack(self, data):
        return struct.unpack(self.format, data)

    def unpack_from(self, data, offset=0):
        return struct.unpack_from(self.format, data, offset)


def packer(fmt):
    """A compiled format when the platform has one: the codec's hot path packs with these."""
    if hasattr(struct, "Struct"):
        return struct.Struct(fmt)
    return _Packer(fmt)
