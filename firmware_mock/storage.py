"""Non-volatile storage for the pump: named byte files written at offsets, in RAM or in real files.

The interface a shell provides (any object with these two methods works):
    read(name)                 -> bytes, or None when the file does not exist
    write(name, offset, data)  -> writes data at offset, growing the file (a gap reads as zeros)
Names are short ASCII words ("state_a", "state_b", "log"). Every storage can be told to lose
power after N more bytes (arm_cut): the write that reaches the N-th byte stores its bytes up
to and including it and raises PowerCut. The pump wraps other objects (adapt) to get that.
"""


class PowerCut(Exception):
    """Power failed in the middle of a storage write; the pump must reboot."""


class Storage:
    """Byte counting and the armed power cut, shared by both implementations."""

    def __init__(self):
        self.bytes_written = 0
        self.writes = 0
        self.cut_after_bytes = None  # None: no cut armed

    def arm_cut(self, cut_after_bytes):
        """Lose power once cut_after_bytes more bytes have been written (1 or more)."""
        self.cut_after_bytes = cut_after_bytes

    def write(self, name, offset, data):
        cut = self.cut_after_bytes
        self.writes += 1
        if cut is not None and len(data) >= cut:
            self.cut_after_bytes = None
            self._write(name, offset, data[:cut])
            self.bytes_written += cut
            raise PowerCut()
        if cut is not None:
            self.cut_after_bytes = cut - len(data)
        self._write(name, offset, data)
        self.bytes_written += len(data)


class RamStorage(Storage):
    """Files in a dict: for CPython tests, the in-process emulator and the WebAssembly runner."""

    def __init__(self):
        super().__init__()
        self.files = {}

    def read(self, name):
        blob = self.files.get(name)
        return None if blob is None else bytes(blob)

    def _write(self, name, offset, data):
        blob = self.files.get(name)
        if blob is None:
            blob = self.files[name] = bytearray()
        end = offset + len(data)
        if end > len(blob):
            blob.extend(bytes(end - len(blob)))
        blob[offset:end] = data


class FileStorage(Storage):
    """One file per name in a directory (a board's flash): plain open, seek and write."""

    def __init__(self, directory="."):
        super().__init__()
        self.directory = directory

    def _path(self, name):
        return "%s/pumpmock_%s.bin" % (self.directory, name)

    def read(self, name):
        try:
            with open(self._path(name), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def _write(self, name, offset, data):
        path = self._path(name)
        try:
            handle = open(path, "r+b")
        except OSError:
            handle = open(path, "w+b")
        try:
            handle.seek(0, 2)
            size = handle.tell()
            if offset > size:
                handle.write(bytes(offset - size))
            handle.seek(offset)
            handle.write(data)
        finally:
            handle.close()


class _Adapted(Storage):
    """A shell's own read/write object, with the byte counting and power cut added."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def read(self, name):
        return self.inner.read(name)

    def _write(self, name, offset, data):
        self.inner.write(name, offset, data)


def adapt(storage):
    """The storage itself if it is one of these classes, else a wrapper that adds arm_cut."""
    return storage if isinstance(storage, Storage) else _Adapted(storage)
