"""CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection): the frame check sequence.

The host computes it with binascii.crc_hqx, which is the same polynomial in C; the firmware
carries a pure-Python table version (firmware_mock.framing) because MicroPython has no crc_hqx.
tests/test_framing.py holds it to the standard check value, tests/test_firmware_framing.py
the table version to it and to that value.
"""

from binascii import crc_hqx

INIT = 0xFFFF
CHECK_VALUE = 0x29B1  # CRC of b"123456789", from the CRC catalogue


def crc16(data, crc=INIT):
    return crc_hqx(data, crc)
