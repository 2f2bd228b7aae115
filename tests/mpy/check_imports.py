"""Imports every firmware module, compiles the board's main.py, and drives BoardLoop, all under MicroPython.

    node firmware_mock/wasm_runner.mjs --run tests/mpy/check_imports.py core codec ... --compile firmware_mock/board/main.py

A module that imports something MicroPython lacks, or uses syntax it does not parse, fails
here even when the static scan (tests/test_firmware_portability.py) misses it. BoardLoop runs
with a fake line and a tick counter that wraps, to check what board/main.py relies on
(memoryview slices, partial writes) on the real interpreter.
"""

import sys

from hostside import Checks, read_text


def import_modules(checks, names):
    for name in names:
        try:
            __import__("firmware_mock." + name)
        except Exception as error:  # noqa: BLE001 - report every module, not only the first
            checks.check(False, name, "import failed: %s: %s" % (type(error).__name__, error))
        else:
            checks.check(True, name)


def compile_files(checks, paths):
    for path in paths:
        try:
            compile(read_text(path), path, "exec")
        except SyntaxError as error:
            checks.check(False, path, "does not compile: %s" % (error,))
        else:
            checks.check(True, path)


class Port:
    """A line that delivers one HELLO and counts what the board writes, 3 bytes per write call."""

    def __init__(self, data, clock):
        self.data = data
        self.clock = clock
        self.out = b""

    def ready(self, timeout_ms):
        if not self.data:
            self.clock[0] += timeout_ms
        return bool(self.data)

    def read_available(self, limit):
        data, self.data = self.data[:limit], self.data[limit:]
        return data

    def write(self, data):
        from firmware_mock.board_loop import write_all

        class Trickle:
            def __init__(self, port):
                self.port = port

            def write(self, buffer):
                self.port.out += bytes(buffer[:3])
                return len(buffer[:3])

        write_all(Trickle(self), data)


def drive_board_loop(checks):
    from firmware_mock import spec
    from firmware_mock.board_loop import BoardLoop
    from firmware_mock.core import Pump
    from firmware_mock.framing import FrameReader, encode_frame

    period = 1 << 12
    wall = [period - 50]

    def ticks_ms():
        return wall[0] % period

    def ticks_diff(new, old):
        half = period // 2
        return ((new - old + half) % period) - half

    hello = encode_frame(spec.K_REQUEST, spec.ID_HELLO, 1, b"\x01\x00\x00\x00\x01")
    port = Port(hello, wall)
    loop = BoardLoop(Pump(test_mode=True), port, ticks_ms, ticks_diff, max_wait_ms=period // 4)
    for _i in range(40):  # 40 waits of up to 1,024 ms: ten wraps of the counter
        loop.step()
    frames = FrameReader().feed(port.out)
    checks.equal([(f[1], f[2], f[3]) for f in frames], [(spec.K_RESPONSE, spec.ID_HELLO, 1)], "BoardLoop",
                 "frames answered")
    checks.equal(loop.clock.now_ms(), wall[0] - (period - 50), "BoardLoop", "virtual ms after the wraps")


def main(argv):
    modules, compiled = argv, []
    if "--compile" in argv:
        at = argv.index("--compile")
        modules, compiled = argv[:at], argv[at + 1:]
    checks = Checks("firmware modules imported, board files compiled, BoardLoop driven")
    import_modules(checks, modules)
    compile_files(checks, compiled)
    drive_board_loop(checks)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
