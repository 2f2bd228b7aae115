"""The never-a-real-implant interlock for hardware serial ports: a USB VID:PID allowlist.

Before pumpmock opens a device path (/dev/ttyACM0, COM3) it looks the port up and refuses it
unless its USB vendor:product id is a commodity microcontroller board or USB-serial bridge, or
the user added it deliberately. A pseudo-terminal is allowed (that is the emulator). A port with
no USB identity (a motherboard UART, Bluetooth) is refused unless allowed by path.

Deliberate additions come from --allow-usb / --allow-port, the PUMPMOCK_ALLOW_USB and
PUMPMOCK_ALLOW_PORTS environment variables (comma-separated), or a config file
($PUMPMOCK_CONFIG, default ~/.config/pumpmock/config.toml):

    [interlock]
    allow_usb = ["1209:abcd"]          # VID:PID, or VID:* for a whole vendor
    allow_ports = ["/dev/ttyS0"]

The second half of the interlock is the handshake: harness.client refuses any peer that does
not answer HELLO with the mock's identity.
"""

import os
import pathlib
import stat
import tomllib

from .errors import UsbDeviceNotAllowed

# (vendor id, product id or None for any product of the vendor) -> what it is
COMMODITY_USB = {
    (0x2E8A, None): "Raspberry Pi RP2040 / RP2350 boards (Pico, MicroPython)",
    (0x2341, None): "Arduino",
    (0x2A03, None): "Arduino (arduino.org)",
    (0x239A, None): "Adafruit boards",
    (0x303A, None): "Espressif ESP32-S2/S3/C3 USB",
    (0x0403, 0x6001): "FTDI FT232R USB-serial",
    (0x0403, 0x6010): "FTDI FT2232 USB-serial",
    (0x0403, 0x6011): "FTDI FT4232 USB-serial",
    (0x0403, 0x6014): "FTDI FT232H USB-serial",
    (0x0403, 0x6015): "FTDI FT-X USB-serial",
    (0x10C4, 0xEA60): "Silicon Labs CP210x USB-serial",
    (0x10C4, 0xEA70): "Silicon Labs CP2105 USB-serial",
    (0x1A86, 0x7523): "WCH CH340 USB-serial",
    (0x1A86, 0x55D4): "WCH CH9102 USB-serial",
    (0x067B, 0x2303): "Prolific PL2303 USB-serial",
    (0x0483, 0x5740): "STMicroelectronics STM32 virtual COM port",
    (0x1209, 0x0001): "pid.codes test board",
    (0xF055, 0x9800): "MicroPython pyboard",
}

_PTY_MAJORS = range(136, 144)  # Unix98 pseudo-terminal slaves on Linux


def parse_usb_id(text):
    """'2e8a:0005' -> (0x2E8A, 0x0005); '2e8a:*' -> (0x2E8A, None). ValueError otherwise."""
    try:
        vendor, product = text.strip().lower().split(":")
        return int(vendor, 16), (None if product == "*" else int(product, 16))
    except ValueError:
        raise ValueError("not a USB id %r: use VID:PID in hex, e.g. 2e8a:0005 or 2e8a:*" % text) from None


class Allowlist:
    """Which USB ids and device paths may be opened."""

    def __init__(self, usb=(), ports=()):
        self.usb = dict(COMMODITY_USB)
        for entry in usb:
            key = parse_usb_id(entry) if isinstance(entry, str) else tuple(entry)
            self.usb[key] = "allowed by configuration"
        self.ports = {os.path.realpath(p) for p in ports}

    @classmethod
    def load(cls, usb=(), ports=(), environ=None, config_path=None):
        """The defaults plus the config file, the environment and explicit entries."""
        environ = os.environ if environ is None else environ
        usb, ports = list(usb), list(ports)
        path = config_path or environ.get("PUMPMOCK_CONFIG") or pathlib.Path.home() / ".config/pumpmock/config.toml"
        path = pathlib.Path(path)
        if path.is_file():
            section = tomllib.loads(path.read_text()).get("interlock", {})
            usb += section.get("allow_usb", [])
            ports += section.get("allow_ports", [])
        usb += [e for e in environ.get("PUMPMOCK_ALLOW_USB", "").split(",") if e.strip()]
        ports += [e for e in environ.get("PUMPMOCK_ALLOW_PORTS", "").split(",") if e.strip()]
        return cls(usb, ports)

    def describe(self, vid, pid):
        """What an allowed USB id is, or None if it is not allowed."""
        return self.usb.get((vid, pid)) or self.usb.get((vid, None))


def is_pty(path):
    """True for a pseudo-terminal slave (where the emulator serves)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_MAJORS


def _comports():
    from serial.tools import list_ports
    return list_ports.comports()


def check_port(path, allowlist=None, comports=None, pty=is_pty):
    """Return a sentence saying why `path` may be opened, or raise UsbDeviceNotAllowed saying why not."""
    allowlist = allowlist or Allowlist.load()
    comports = comports or _comports
    real = os.path.realpath(path)
    if real in allowlist.ports:
        return "%s: allowed by configuration" % path
    if pty(real):
        return "%s: a pseudo-terminal (the emulator)" % path
    info = next((p for p in comports() if os.path.realpath(p.device) == real), None)
    how_to = ("If this is your own development board or adapter, allow it deliberately: "
              "--allow-usb VID:PID, PUMPMOCK_ALLOW_USB=VID:PID, or allow_usb = [\"VID:PID\"] under "
              "[interlock] in ~/.config/pumpmock/config.toml.")
    if info is None or info.vid is None:
        raise UsbDeviceNotAllowed(
            "refusing %s: it is not a USB serial device pumpmock can identify, so it could be "
            "anything, including a real programmer head. pumpmock only opens commodity boards and "
            "USB-serial bridges. To use this port anyway, allow it by path: --allow-port %s or "
            "PUMPMOCK_ALLOW_PORTS=%s." % (path, path, path))
    what = allowlist.describe(info.vid, info.pid)
    if what is None:
        raise UsbDeviceNotAllowed(
            "refusing %s: USB %04x:%04x (%s) is not on pumpmock's allowlist of commodity boards and "
            "USB-serial bridges. pumpmock never talks to a real implant or its programming hardware. %s"
            % (path, info.vid, info.pid, info.description or info.manufacturer or "unknown device", how_to))
    return "%s: USB %04x:%04x, %s" % (path, info.vid, info.pid, what)
