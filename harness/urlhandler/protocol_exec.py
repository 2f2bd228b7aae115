"""pyserial URL handler for exec://COMMAND: a child process's stdin/stdout as a serial port.

    serial.serial_for_url("exec://pumpmock micropython --test-mode", timeout=1)

The command is split like a shell would (shlex) but not run through one. Bytes written go to
the child's stdin; its stdout is read by a background thread into a buffer, so reads honour the
port timeout. Its stderr is kept (the last lines) for error messages. Once the child's output
has ended and every byte of it was read, a read raises SerialException (with its exit status
and stderr), as pyserial's socket:// does for a closed peer. Closing the port ends the child.
`exec:COMMAND` (no slashes) is accepted by harness.open_port, which rewrites it.
"""

import collections
import shlex
import subprocess
import threading
import time

from serial.serialutil import PortNotOpenError, SerialBase, SerialException


class Serial(SerialBase):
    """A child process behind a pyserial port."""

    # A child needs time to boot before it can answer (a Python interpreter, Node.js loading the
    # MicroPython WebAssembly port: 0.3-1 s, several times that on a loaded machine). The host's
    # handshake waits until startup_deadline for the first answer before it counts a retry.
    STARTUP_GRACE_S = 10.0

    def __init__(self, *args, **kwargs):
        self.process = None
        self._threads = []
        self._buffer = bytearray()
        self._ready = threading.Condition()
        self._stderr = collections.deque(maxlen=20)
        self._eof = False
        self._booting_until = None
        super().__init__(*args, **kwargs)

    def open(self):
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        command = self.from_url(self._port)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, bufsize=0)
        except OSError as error:
            raise SerialException("exec://: cannot start %r: %s" % (command[0], error)) from None
        self._eof = False
        self._booting_until = time.monotonic() + self.STARTUP_GRACE_S
        self._threads = [threading.Thread(target=self._pump_stdout, daemon=True),
                         threading.Thread(target=self._pump_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()
        self.is_open = True

    def from_url(self, url):
        """The command line of an exec:// URL, as an argument list."""
        if not url.startswith("exec://"):
            raise SerialException("expected exec://COMMAND, got %r" % url)
        command = shlex.split(url[len("exec://"):])
        if not command:
            raise SerialException("exec:// needs a command, e.g. exec://pumpmock micropython --test-mode")
        return command

    @property
    def startup_deadline(self):
        """time.monotonic() until which the child may still be booting; None once it has said
        anything (or was never started). The reference client does not count a missed answer
        before then (harness.client)."""
        return self._booting_until

    def _pump_stdout(self):
        stream = self.process.stdout
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(4096)
            self._booting_until = None  # it spoke (or ended): it has booted
            with self._ready:
                if not chunk:
                    self._eof = True
                    self._ready.notify_all()
                    return
                self._buffer += chunk
                self._ready.notify_all()

    def _pump_stderr(self):
        for line in self.process.stderr:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    @property
    def stderr_tail(self):
        """The child's last lines of stderr (for error messages)."""
        return list(self._stderr)

    def close(self):
        if self.process is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            for thread in self._threads:  # let them drain what the child wrote last
                thread.join(timeout=1)
        self.is_open = False
        super().close()

    def _reconfigure_port(self):
        """A pipe has no line settings."""

    @property
    def in_waiting(self):
        if not self.is_open:
            raise PortNotOpenError()
        with self._ready:
            return len(self._buffer)

    def read(self, size=1):
        return self._read(size, self._timeout)

    def read_available(self, timeout):
        """Everything the child has written so far; if nothing yet, wait up to `timeout` s for it.

        The reference client's fast path (harness.portio): one wait under one lock instead of
        read(in_waiting or 1) then read(in_waiting).
        """
        return self._read(1, timeout, everything=True)

    def _read(self, size, timeout, everything=False):
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while len(self._buffer) < size and not self._eof:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._ready.wait(remaining)
            if not self._buffer and self._eof:
                # pyserial's way for a peer that is gone (its socket:// does the same): an
                # error, not an endless run of empty reads that a caller would spin on.
                raise SerialException(self._gone("closed its output"))
            if everything:
                size = len(self._buffer)
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
            return data

    def _gone(self, what):
        """Why the child stopped talking: its exit status and last stderr lines, as far as known."""
        try:
            status = self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            status = None
        self._threads[-1].join(timeout=0.5)  # its last words on stderr
        tail = "; ".join(self._stderr) or "no stderr"
        return "exec:// child %s (%s): %s" % (what, "still running" if status is None else "exit status %d" % status,
                                              tail)

    def write(self, data):
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(data)
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except OSError as error:  # BrokenPipeError: it has exited
            raise SerialException(self._gone("cannot be written to: %s" % error)) from None
        return len(data)

    def reset_input_buffer(self):
        with self._ready:
            self._buffer.clear()

    def reset_output_buffer(self):
        """Pipes are written through at once."""

    def _update_dtr_state(self):
        pass

    def _update_rts_state(self):
        pass

    def _update_break_state(self):
        pass
