"""The Python half of the WebAssembly runner: Pump behind a bridge that passes bytes as hex text.

wasm_runner.mjs (Node.js) owns the pipes and the clock; MicroPython owns the pump. Strings and
small integers are what cross the JavaScript/MicroPython boundary cheaply and exactly (a Python
int above 2**31 arrives in JavaScript as garbage, bytes arrive as an opaque proxy), so every
call takes hex and returns one string: "<next deadline ms or -1> <hex bytes to write>".
One call per chunk of input or timer tick keeps the boundary crossings, the runner's main cost,
to one. Plain Python that also runs on CPython, where tests drive it directly.
"""

import binascii
import sys

from . import heap
from .core import Pump


class HostFiles:
    """Storage (see storage.py) whose files the runner keeps on the host, one per name.

    `host` has read_hex_at(name, offset, size) -> hex text of at most size bytes from offset ("" past
    the end or for no file), read_hex(name) -> hex text or None (the whole file, for tools), and
    write_hex(name, offset, hex text): the runner's JavaScript functions, which write through to
    the host file at once, so the state survives the runner exactly as a board's flash survives a
    reset. The pump reads with read_into, a buffer at a time, never a whole file.
    """

    def __init__(self, host):
        self.host = host

    def read_into(self, name, offset, buf):
        data = binascii.unhexlify(self.host.read_hex_at(name, offset, len(buf)))
        size = len(data)
        if size > len(buf):  # a host that answered more than it was asked for
            size = len(buf)
        buf[:size] = data[:size]
        return size

    def read(self, name):
        text = self.host.read_hex(name)
        if text is None:
            return None
        return binascii.unhexlify(text)

    def write(self, name, offset, data):
        self.host.write_hex(name, offset, _hex(data))


class StdioShell:
    """One pump, driven by step(hex, now_ms) calls from the runner."""

    def __init__(self, serial="PM-000001", test_mode=False, seed=None, storage=None):
        self.pump = Pump(serial=serial, test_mode=test_mode, storage=storage, seed=seed)

    def step(self, data_hex, now_ms):
        """Bytes from the line (hex; "" for a timer tick) at now_ms -> "deadline hex"."""
        pump = self.pump
        if data_hex:
            out = pump.receive(binascii.unhexlify(data_hex), now_ms)
            heap.point()  # after an input, its answer still held: TC_HEAP_INFO's watch
        else:
            out = pump.poll(now_ms)
        deadline = pump.next_deadline_ms()
        if deadline is None:
            deadline = -1
        return "%d %s" % (deadline, _hex(out))


def _hex(data):
    # binascii, not bytes.hex(): MicroPython 1.27 returns b"" (bytes, not str) for b"".hex()
    return binascii.hexlify(data).decode()


def run_script(path, argv):
    """Run a Python file as __main__ with sys.argv = argv; its exit status (0, or 1 on an error).

    The runner's --run mode uses this, so a script's SystemExit becomes the process's exit code
    and an uncaught exception prints its traceback on MicroPython's stderr.
    """
    sys.argv[:] = argv
    with open(path) as handle:
        source = handle.read()
    scope = {"__name__": "__main__", "__file__": path}
    try:
        exec(compile(source, path, "exec"), scope)
    except SystemExit as stop:
        return _exit_status(stop)
    except Exception as error:  # noqa: BLE001 - any failure of the script is its exit status
        show = getattr(sys, "print_exception", None)
        if show is None:  # CPython: let the interpreter print it
            raise
        show(error, sys.stderr)
        return 1
    return 0


def _exit_status(stop):
    code = stop.args[0] if stop.args else None
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write("%s\n" % (code,))
    return 1
