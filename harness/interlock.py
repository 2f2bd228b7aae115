"""The never-a-real-implant interlock: what a URL reaches, and the USB allowlist for hardware.

Every line pumpmock opens is first sorted by what it reaches (harness.open_port does this):

    emulator   pumpmock://..., loop://          in this process: allowed
    child      exec://COMMAND                   a program the user named: allowed
    network    socket://HOST:P, rfc2217://HOST:P  any host (a ser2net in a board farm): allowed,
                                                because nothing but HELLO goes out before the
                                                peer answered the mock's handshake
    hardware   a device path, spy://PATH, alt://PATH, hwgrep://REGEXP
                                                vetted here, on the device actually opened
    refused    cp2110:// (a HID bridge pumpmock cannot identify), any other scheme a pyserial
               handler exists for (pumpmock cannot tell what it opens)

A scheme no handler knows is a usage error (BadUrlError). For hardware, the device path is
resolved (symlinks followed), looked up, and refused unless its USB vendor:product id is a
commodity microcontroller board or USB-serial bridge, or the user allowed it deliberately; a
pseudo-terminal is allowed (that is the emulator); a port with no USB identity (a motherboard
UART, Bluetooth) is refused unless allowed by path. The resolved path is what gets opened, with
an exclusive lock, and the open descriptor is checked to be the device vetted (fstat), so a link
re-pointed or a node replaced between the check and the open is caught before a byte is written.

Deliberate additions come from --allow-usb / --allow-port (every pumpmock command that opens a
port; --pump-allow-usb / --pump-allow-port under pytest), the PUMPMOCK_ALLOW_USB and
PUMPMOCK_ALLOW_PORTS environment variables (comma-separated), or a config file
($PUMPMOCK_CONFIG, default ~/.config/pumpmock/config.toml):

    [interlock]
    allow_usb = ["1209:abcd"]          # VID:PID, or VID:* for a whole vendor
    allow_ports = ["/dev/ttyS0"]

A config file that does not parse, an unknown section or key, or a value of the wrong type is an
error (InterlockConfigError), as is a $PUMPMOCK_CONFIG that names no file: a misspelt allowlist is
never silently empty. The second half of the interlock is the handshake (harness.client).
"""

import errno
import os
import pathlib
import re
import shlex
import stat
import tomllib
import urllib.parse

import serial

from .errors import HarnessError, PortError, SafetyInterlockError, UsbDeviceNotAllowed

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
CONFIG_KEYS = {"allow_usb", "allow_ports"}
EMULATOR, CHILD, NETWORK, HARDWARE = "emulator", "child", "network", "hardware"
SCHEMES = {"pumpmock": EMULATOR, "loop": EMULATOR, "exec": CHILD, "socket": NETWORK, "rfc2217": NETWORK,
           "spy": HARDWARE, "alt": HARDWARE, "hwgrep": HARDWARE}
REFUSED_SCHEMES = {"cp2110": "it opens a CP2110 USB HID bridge by its bus path, which pumpmock cannot vet; "
                             "use a USB-serial bridge on a device path instead"}
HOW_TO_ALLOW_USB = ("--allow-usb VID:PID (pumpmock commands), --pump-allow-usb VID:PID (pytest), "
                    "PUMPMOCK_ALLOW_USB=VID:PID, or allow_usb = [\"VID:PID\"] under [interlock] in "
                    "~/.config/pumpmock/config.toml")


class BadUrlError(HarnessError, ValueError):
    """A URL or line option that cannot be right (unknown scheme, bad option): the caller's mistake."""


class InterlockConfigError(HarnessError, ValueError):
    """The allowlist's configuration (file, environment, options) cannot be read as written."""


class NoSuchPortError(PortError):
    """A device path that names no port; the message lists the ports there are."""


class PortBusyError(PortError):
    """The port is open in another program (another pumpmock run on the same board, say)."""


def parse_usb_id(text):
    """'2e8a:0005' -> (0x2E8A, 0x0005); '2e8a:*' -> (0x2E8A, None). ValueError otherwise."""
    try:
        vendor, product = str(text).strip().lower().split(":")
        ids = int(vendor, 16), (None if product == "*" else int(product, 16))
    except ValueError:
        ids = None
    if ids is None or not 0 <= ids[0] <= 0xFFFF or not (ids[1] is None or 0 <= ids[1] <= 0xFFFF):
        raise ValueError("not a USB id %r: use VID:PID in hex, e.g. 2e8a:0005 or 2e8a:*" % (text,))
    return ids


class Allowlist:
    """Which USB ids and device paths may be opened."""

    def __init__(self, usb=(), ports=()):
        self.usb = dict(COMMODITY_USB)
        for entry in usb:
            key = parse_usb_id(entry) if isinstance(entry, str) else tuple(entry)
            self.usb[key] = "allowed by configuration"
        self.ports = {_resolve(p) for p in ports}

    @classmethod
    def load(cls, usb=(), ports=(), environ=None, config_path=None):
        """The defaults plus the config file, the environment and explicit entries.

        Raises InterlockConfigError naming the source of anything it cannot read.
        """
        environ = os.environ if environ is None else environ
        entries = [("--allow-usb", "usb", e) for e in usb] + [("--allow-port", "ports", e) for e in ports]
        explicit = config_path or environ.get("PUMPMOCK_CONFIG")
        path = pathlib.Path(explicit or pathlib.Path.home() / ".config/pumpmock/config.toml")
        if explicit and not path.exists():
            raise InterlockConfigError("the pumpmock config file %s does not exist (named by %s)"
                                       % (path, "config_path" if config_path else "PUMPMOCK_CONFIG"))
        if path.exists():
            entries += _config_entries(path)
        for variable, kind in (("PUMPMOCK_ALLOW_USB", "usb"), ("PUMPMOCK_ALLOW_PORTS", "ports")):
            entries += [(variable, kind, e.strip()) for e in environ.get(variable, "").split(",") if e.strip()]
        found = {"usb": [], "ports": []}
        for source, kind, entry in entries:
            if kind == "usb":
                try:
                    parse_usb_id(entry)
                except ValueError as error:
                    raise InterlockConfigError("%s: %s" % (source, error)) from None
            elif not isinstance(entry, str) or not entry:
                raise InterlockConfigError("%s: a port is a path such as /dev/ttyS0, not %r" % (source, entry))
            found[kind].append(entry)
        return cls(found["usb"], found["ports"])

    def describe(self, vid, pid):
        """What an allowed USB id is, or None if it is not allowed."""
        return self.usb.get((vid, pid)) or self.usb.get((vid, None))


def _config_entries(path):
    """[(source, kind, entry)] from a config file; InterlockConfigError for anything misspelt."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InterlockConfigError("cannot read the pumpmock config file %s: %s" % (path, error)) from None
    except tomllib.TOMLDecodeError as error:
        raise InterlockConfigError("the pumpmock config file %s is not valid TOML: %s" % (path, error)) from None
    unknown = sorted(set(config) - {"interlock"})
    if unknown:
        raise InterlockConfigError("%s: unknown section %s (pumpmock reads [interlock] only)"
                                   % (path, ", ".join("[%s]" % name for name in unknown)))
    section = config.get("interlock", {})
    if not isinstance(section, dict):
        raise InterlockConfigError("%s: interlock must be a section ([interlock])" % path)
    unknown = sorted(set(section) - CONFIG_KEYS)
    if unknown:
        raise InterlockConfigError("%s: unknown key %s under [interlock] (keys: %s)"
                                   % (path, ", ".join(unknown), ", ".join(sorted(CONFIG_KEYS))))
    entries = []
    for key, kind in (("allow_usb", "usb"), ("allow_ports", "ports")):
        value = section.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InterlockConfigError("%s: %s must be a list of strings, e.g. %s = [%s], not %r"
                                       % (path, key, key, '"2e8a:0005"' if kind == "usb" else '"/dev/ttyS0"', value))
        entries += [("%s: %s" % (path, key), kind, item) for item in value]
    return entries


def _resolve(path):
    """The device a path names: symlinks followed on POSIX; a Windows port name as it is."""
    return path if os.name == "nt" else os.path.realpath(path)


def is_pty(path):
    """True for a pseudo-terminal slave (where the emulator serves)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _is_pty_stat(st)


def _is_pty_stat(st):
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_MAJORS


def _comports():
    from serial.tools import list_ports
    return list_ports.comports()


def _ports_here(comports):
    names = sorted(p.device for p in comports())
    return ", ".join(names) if names else "none"


def check_port(path, allowlist=None, comports=None, pty=is_pty):
    """Return a sentence saying why `path` may be opened, or raise UsbDeviceNotAllowed saying why not
    (NoSuchPortError, listing the ports there are, when no port has that name)."""
    allowlist = allowlist or Allowlist.load()
    comports = comports or _comports
    real = _resolve(path)
    listed = list(comports())
    info = next((p for p in listed if _resolve(p.device) == real), None)
    if info is None and not os.path.exists(real):
        raise NoSuchPortError("no such port %s; serial ports here: %s (pumpmock ports says which may be opened)"
                              % (path, _ports_here(lambda: listed)))
    if real in allowlist.ports:
        return "%s: allowed by configuration" % path
    if pty(real):
        return "%s: a pseudo-terminal (the emulator)" % path
    if info is None or info.vid is None:
        raise UsbDeviceNotAllowed(
            "refusing %s: it is not a USB serial device pumpmock can identify, so it could be "
            "anything, including a real programmer head. pumpmock only opens commodity boards and "
            "USB-serial bridges. To use this port anyway, allow it by path: --allow-port %s "
            "(pumpmock commands), --pump-allow-port %s (pytest) or PUMPMOCK_ALLOW_PORTS=%s."
            % (path, path, path, path))
    what = allowlist.describe(info.vid, info.pid)
    if what is None:
        raise UsbDeviceNotAllowed(
            "refusing %s: USB %04x:%04x (%s) is not on pumpmock's allowlist of commodity boards and "
            "USB-serial bridges. pumpmock never talks to a real implant or its programming hardware. "
            "If this is your own development board or adapter, allow it deliberately: %s."
            % (path, info.vid, info.pid, info.description or info.manufacturer or "unknown device",
               HOW_TO_ALLOW_USB))
    return "%s: USB %04x:%04x, %s" % (path, info.vid, info.pid, what)


# ---- what a URL reaches ------------------------------------------------------------------------
def scheme_of(url):
    """'socket' for socket://..., None for a device path."""
    if "://" not in url:
        return None
    return url.split("://", 1)[0].lower()


def kind_of(url):
    """EMULATOR, CHILD, NETWORK or HARDWARE; SafetyInterlockError for a scheme that is refused,
    BadUrlError for one nothing handles."""
    scheme = scheme_of(url)
    if scheme is None:
        if not url:
            raise BadUrlError("an empty URL: give a device path (/dev/ttyACM0) or a URL (pumpmock://, exec:...)")
        return HARDWARE
    if scheme in SCHEMES:
        return SCHEMES[scheme]
    if scheme in REFUSED_SCHEMES:
        raise SafetyInterlockError("refusing %s: %s" % (url, REFUSED_SCHEMES[scheme]))
    if _has_handler(scheme):
        raise SafetyInterlockError(
            "refusing %s: pumpmock cannot tell what a %s:// line reaches, so it could be hardware it "
            "cannot vet; open the device by its path, or the emulator by pumpmock:// or exec:" % (url, scheme))
    raise BadUrlError("unknown URL scheme %s:// in %r (pumpmock opens a device path, pumpmock://, exec:COMMAND, "
                      "socket://HOST:PORT, rfc2217://HOST:PORT, loop://, spy://PATH, alt://PATH, hwgrep://REGEXP)"
                      % (scheme, url))


def _has_handler(scheme):
    import importlib
    for package in serial.protocol_handler_packages:
        try:
            importlib.import_module(".protocol_%s" % scheme, package)
            return True
        except ImportError:
            continue
    return False


class Target:
    """A URL vetted for opening: what it reaches, the URL to hand pyserial, and for hardware the
    device (resolved path, device number) the descriptor must turn out to be."""

    def __init__(self, url, kind, open_url=None, device=None, rdev=None, reason=""):
        self.url = url
        self.kind = kind
        self.open_url = open_url or url
        self.device = device
        self.rdev = rdev
        self.reason = reason
        self.next_candidate = None  # hwgrep&skip_busy: () -> the next match's Target, vetted, or None

    def __repr__(self):
        return "Target(%r, %s, %r)" % (self.url, self.kind, self.reason)


def vet(url, allowlist=None, comports=None):
    """The Target for `url`, checked without opening anything: options parsed, hardware vetted.

    Raises BadUrlError (a usage mistake), NoSuchPortError, or a SafetyInterlockError refusal.
    """
    kind = kind_of(url)
    scheme = scheme_of(url)
    if kind == EMULATOR:
        if scheme == "pumpmock":
            from .urlhandler.protocol_pumpmock import parse_url
            try:
                parse_url(url)
            except ValueError as error:
                raise BadUrlError(str(error)) from None
        return Target(url, kind, reason="%s: in this process (the emulator)" % url)
    if kind == CHILD:
        try:
            command = shlex.split(url[len("exec://"):])
        except ValueError as error:
            raise BadUrlError("%s: the command does not split like a shell line: %s" % (url, error)) from None
        if not command:
            raise BadUrlError("exec:// needs a command, e.g. exec:pumpmock micropython --test-mode")
        return Target(url, kind, reason="%s: a child process you named" % url)
    if kind == NETWORK:
        _check_host_port(url)
        return Target(url, kind, reason="%s: a network line, vetted by the mock's handshake" % url)
    allowlist = allowlist or Allowlist.load()
    comports = comports or _comports
    if scheme == "hwgrep":
        paths, skip_busy = _hwgrep_candidates(url, comports)
        target = _vet_device(url, paths[0], paths[0], allowlist, comports)
        if skip_busy:  # the next matches are vetted only if the ones before them are busy
            target.next_candidate = lambda: _next_hwgrep(url, paths[1:], allowlist, comports)
        return target
    path, query = url, ""
    if scheme in ("spy", "alt"):
        path, _, query = url[len(scheme) + 3:].partition("?")
        if not path:
            raise BadUrlError("%s needs a device path: %s:///dev/ttyACM0" % (url, scheme))
    real = _resolve(path)
    open_url = real if scheme is None else "%s://%s%s" % (scheme, real, "?" + query if query else "")
    return _vet_device(url, path, open_url, allowlist, comports)


def _vet_device(url, path, open_url, allowlist, comports):
    real = _resolve(path)
    before = _device_number(real)
    reason = check_port(path, allowlist, comports=comports)
    if before is not None and _device_number(real) != before:
        raise SafetyInterlockError("refusing %s: the device changed while it was being checked" % url)
    if scheme_of(open_url) is None:
        open_url = real
    return Target(url, HARDWARE, open_url=open_url, device=real, rdev=before, reason=reason)


def _device_number(path):
    """(is a character device, st_rdev) of path, or None where there is no such node (Windows)."""
    if os.name == "nt":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat.S_ISCHR(st.st_mode), st.st_rdev


def _hwgrep_candidates(url, comports):
    """The device paths hwgrep://REGEXP[&n=N][&skip_busy] picks from, in pyserial's order."""
    regexp, *options = url[len("hwgrep://"):].split("&")
    skip, skip_busy = 0, False
    for option in options:
        name, _, value = option.partition("=")
        if name == "n" and value.isdigit() and int(value) >= 1:
            skip = int(value) - 1
        elif name == "skip_busy" and not value:
            skip_busy = True
        else:
            raise BadUrlError("%s: unknown option %r (hwgrep://REGEXP[&n=N][&skip_busy])" % (url, option))
    try:
        pattern = re.compile(regexp, re.I)
    except re.error as error:
        raise BadUrlError("%s: not a regular expression: %s" % (url, error)) from None
    listed = list(comports())
    matches = sorted(p.device for p in listed
                     if any(pattern.search(getattr(p, name, None) or "") for name in ("device", "description", "hwid")))
    if len(matches) <= skip:
        raise NoSuchPortError("no serial port matches %s; serial ports here: %s" % (url, _ports_here(lambda: listed)))
    return matches[skip:], skip_busy


def _next_hwgrep(url, paths, allowlist, comports):
    if not paths:
        return None
    target = _vet_device(url, paths[0], paths[0], allowlist, comports)
    target.next_candidate = lambda: _next_hwgrep(url, paths[1:], allowlist, comports)
    return target


def _check_host_port(url):
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or not 0 < port < 65536:
        raise BadUrlError("%s: give a host and a port from 1 to 65535, e.g. %s://127.0.0.1:5000"
                          % (url, parts.scheme))


# ---- opening the vetted device -------------------------------------------------------------------
def _serial_for_url(url, **options):
    """pyserial's constructor (a test seam: tests put a pseudo-terminal here)."""
    return serial.serial_for_url(url, **options)


def open_hardware(target, baudrate, timeout):
    """Open a vetted hardware Target exclusively and check the descriptor is the device vetted;
    returns (port, the Target opened: another hwgrep match than `target` when it was busy)."""
    while True:
        try:
            port = _serial_for_url(target.open_url, baudrate=baudrate, timeout=timeout, exclusive=True)
        except serial.SerialException as error:
            code = getattr(error, "errno", None)
            if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY):
                following = target.next_candidate() if target.next_candidate else None
                if following is not None:
                    target = following
                    continue
                raise PortBusyError("port busy: %s is open in another program (another pumpmock run on "
                                    "the same board?)" % target.device) from None
            if code == errno.ENOENT:
                raise NoSuchPortError("no such port %s: it went away while being opened" % target.device) from None
            raise PortError("cannot open %s: %s" % (target.device, error)) from None
        try:
            check_descriptor(port, target)
        except BaseException:
            port.close()
            raise
        return port, target


def check_descriptor(port, target):
    """Raise SafetyInterlockError unless `port`'s open descriptor is the device `target` vetted."""
    if os.name == "nt":
        return  # a COM port name is the device: no links to re-point, and it opens exclusively
    fd = getattr(port, "fd", None)
    if not isinstance(fd, int) or fd < 0:
        raise SafetyInterlockError("refusing %s: pumpmock cannot check which device %s opened (no descriptor)"
                                   % (target.url, type(port).__name__))
    st = os.fstat(fd)
    got = (stat.S_ISCHR(st.st_mode), st.st_rdev)
    if target.rdev is None or got != target.rdev or not got[0]:
        raise SafetyInterlockError(
            "refusing %s: the device opened (%s) is not the one checked (%s): was a link re-pointed or the "
            "port replaced between the check and the open? nothing was sent" % (
                target.url, _rdev_text(got), _rdev_text(target.rdev)))


def _rdev_text(number):
    if number is None:
        return "none"
    is_chr, rdev = number
    return "%s %d:%d" % ("char device" if is_chr else "not a char device", os.major(rdev), os.minor(rdev))


# ---- pumpmock commands: --allow-usb / --allow-port -----------------------------------------------------
def add_allow_arguments(parser):
    """--allow-usb and --allow-port, for every command that opens a port."""
    parser.add_argument("--allow-usb", action="append", default=[], metavar="VID:PID",
                        help="add your own board's USB id to the allowlist for this run (repeatable)")
    parser.add_argument("--allow-port", action="append", default=[], metavar="PATH",
                        help="allow a port with no USB identity by its path (repeatable)")


def allowlist_from_args(args):
    """The allowlist for a parsed command line (InterlockConfigError for a bad entry or config)."""
    return Allowlist.load(usb=getattr(args, "allow_usb", None) or (), ports=getattr(args, "allow_port", None) or ())
