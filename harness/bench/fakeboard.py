"""A board that is a directory: the Deployer fake for tests and for rehearsing `pumpmock flash`.

    board = FakeBoard(tmp_path / "board")                       # its file system is this directory
    flash(board, test_mode=True)                                 # harness.bench.flash, as on a board
    board.files()                                                # {"main.py": b"...", ...}

`run` executes the deployment snippets for real, in a child interpreter whose working directory
is the board's: CPython by default, or MicroPython itself (`interpreter=micropython_interpreter()`,
the WebAssembly port under Node.js), which proves the snippets run on the board's Python. After
`reset`, the board "boots" into the in-process emulator, in test mode exactly when the
pumpmock_test_mode marker file is on it, so the identity check after flashing is real too.
`corrupt` names remote paths whose copy gets one byte flipped: a transfer that went wrong.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from pumpmock.protocol.framing import decode_frame

from ..micropython_cmd import micropython_mjs
from .deploy import CRASH_FILE, Deployer, DeployError

MICROPYTHON_MJS = micropython_mjs()
TEST_MODE_MARKER = "pumpmock_test_mode"


def cpython_interpreter(code, cwd, timeout_s=30):
    """Run `code` in a child CPython with `cwd` as its working directory; (exit status, output)."""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    return done.returncode, done.stdout + done.stderr


# Copies the board directory into MicroPython's in-memory file system, runs the code there with
# "/" as the working directory, then writes the file system back (files changed, made or removed),
# since the WebAssembly port can only see its own memory file system.
_MICROPYTHON_RUNNER = r"""
import { loadMicroPython } from %(mjs)s;
import fs from "fs";
import path from "path";
const [board, script] = process.argv.slice(2);
let out = "";
const mp = await loadMicroPython({stdout: (s) => { out += s + "\n"; }, stderr: (s) => { out += s + "\n"; },
                                  linebuffer: true, heapsize: 8 * 1024 * 1024});
function copyIn(dir, into) {
  for (const name of fs.readdirSync(dir)) {
    const local = path.join(dir, name), remote = into + name;
    if (fs.statSync(local).isDirectory()) { mp.FS.mkdir(remote); copyIn(local, remote + "/"); }
    else mp.FS.writeFile(remote, fs.readFileSync(local));
  }
}
function copyOut(remote, dir) {
  const seen = new Set();
  for (const name of mp.FS.readdir(remote)) {
    if (name === "." || name === ".." || (remote === "/" && ["tmp", "home", "dev", "proc"].includes(name))) continue;
    seen.add(name);
    const full = remote + name, local = path.join(dir, name);
    if (mp.FS.isDir(mp.FS.stat(full).mode)) { fs.mkdirSync(local, {recursive: true}); copyOut(full + "/", local); }
    else fs.writeFileSync(local, mp.FS.readFile(full));
  }
  for (const name of fs.readdirSync(dir)) if (!seen.has(name)) fs.rmSync(path.join(dir, name), {recursive: true});
}
copyIn(board, "/");
let status = 0;
try { mp.runPython("import os\nos.chdir('/')\n" + fs.readFileSync(script, "utf8")); }
catch (error) { out += String(error) + "\n"; status = 1; }
copyOut("/", board);
process.stdout.write(out);
process.exit(status);
"""


def micropython_interpreter(node="node", mjs=MICROPYTHON_MJS):
    """An interpreter for FakeBoard that is MicroPython (the WebAssembly port, run by Node.js).

    Raises DeployError when node or the npm package is missing.
    """
    if not shutil.which(node) or not os.path.exists(mjs):
        raise DeployError("the MicroPython runner needs node and %s (pumpmock micropython --setup)" % mjs)

    def interpret(code, cwd, timeout_s=60):
        with tempfile.TemporaryDirectory() as scratch:
            runner = os.path.join(scratch, "run.mjs")
            script = os.path.join(scratch, "snippet.py")
            with open(runner, "w") as handle:
                handle.write(_MICROPYTHON_RUNNER % {"mjs": repr(pathlib.Path(mjs).as_uri())})
            with open(script, "w") as handle:
                handle.write(code)
            done = subprocess.run([node, runner, str(cwd), script], capture_output=True, text=True, timeout=timeout_s)
            return done.returncode, done.stdout + done.stderr
    return interpret


class FakeBoard(Deployer):
    """A Deployer whose board is the directory `root`; calls are kept in `calls` for tests."""

    def __init__(self, root, interpreter=cpython_interpreter, corrupt=(), port="fake-board"):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.interpreter = interpreter
        self.corrupt = set(corrupt)
        self.port = port
        self.calls = []  # ("put", [remote paths]) / ("run", code) / ("reset",)
        self.resets = 0

    def put(self, pairs):
        pairs = list(pairs)
        self.calls.append(("put", [remote for _local, remote in pairs]))
        for local, remote in pairs:
            target = self.root / remote
            if not target.parent.is_dir():
                raise DeployError("cp %s: no directory %s on the board" % (remote, target.parent.relative_to(self.root)))
            data = bytearray(pathlib.Path(local).read_bytes())
            if remote in self.corrupt and data:
                data[len(data) // 2] ^= 0x20
            target.write_bytes(bytes(data))

    def run(self, code):
        self.calls.append(("run", code))
        status, output = self.interpreter(code, self.root)
        if status != 0 or "Traceback (most recent call last)" in output:
            raise DeployError("the board raised running a deployment step: %s" % output.strip()[-600:])
        return output

    def reset(self):
        self.calls.append(("reset",))
        self.resets += 1

    def identity_url(self):
        """The emulator this board boots into: test mode exactly when the marker file is there."""
        test_mode = int((self.root / TEST_MODE_MARKER).exists())
        return "pumpmock://?clock=virtual&test_mode=%d&serial=PM-FAKEBRD" % test_mode

    def files(self):
        """{remote path: bytes} of every file on the board."""
        return {path.relative_to(self.root).as_posix(): path.read_bytes()
                for path in sorted(self.root.rglob("*")) if path.is_file()}


class DyingPump:
    """A pump that answers its first `frames` frames from the host, then nothing ever again.

    A board that hung, crashed into its REPL or lost power mid-run: the line stays open, the
    bytes go nowhere. on_death() is called once, when it stops (a FakeBoard's crash(), say).
    Wraps a firmware_mock Pump for the pumpmock:// link (see register_dying_board).
    """

    def __init__(self, pump, frames, on_death=None, count_from=None):
        self.pump = pump
        self.frames_left = frames
        self.on_death = on_death
        self.count_from = count_from  # a predicate of a decoded Frame: counting starts with the first it is true of
        self.dead = False

    def __getattr__(self, name):
        return getattr(self.pump, name)

    def _die(self):
        self.dead = True
        if self.on_death is not None:
            self.on_death()

    def receive(self, data, now_ms):
        if self.dead:
            return b""
        out = bytearray()
        data = bytes(data)
        while data and not self.dead:
            end = data.find(b"\x00")
            piece, data = (data, b"") if end < 0 else (data[:end + 1], data[end + 1:])
            out += self.pump.receive(piece, now_ms)
            if end >= 0 and self.count_from is not None:
                try:
                    frame = decode_frame(piece)
                except Exception:  # noqa: BLE001 - a broken frame starts nothing
                    frame = None
                if frame is None or not self.count_from(frame):
                    continue
                self.count_from = None
            if end >= 0:
                self.frames_left -= 1
                if self.frames_left <= 0:
                    self._die()
        return bytes(out)

    def poll(self, now_ms):
        return b"" if self.dead else self.pump.poll(now_ms)

    def next_deadline_ms(self):
        return None if self.dead else self.pump.next_deadline_ms()


def register_dying_board(name, frames, board=None, crash_text=None, serial="PM-000001", count_from=None):
    """Make pumpmock://NAME?... a board that stops answering after `frames` host frames
    (counted from the first frame count_from(frame) is true of, when given).

    With `board` (a FakeBoard) and crash_text, the board gets /pumpmock_crash.txt as it dies,
    the way the firmware's main.py records its traceback. Returns the DyingPump;
    unregister_dying_board(name) removes it.
    """
    from pumpmock.firmware_mock.core import Pump
    from ..urlhandler import protocol_pumpmock

    def crashed():
        if board is not None and crash_text is not None:
            (board.root / CRASH_FILE).write_text(crash_text)

    pump = DyingPump(Pump(serial=serial, test_mode=True), frames, on_death=crashed, count_from=count_from)
    protocol_pumpmock._SHARED_PUMPS[name] = pump
    return pump


def unregister_dying_board(name):
    from ..urlhandler import protocol_pumpmock
    protocol_pumpmock._SHARED_PUMPS.pop(name, None)
