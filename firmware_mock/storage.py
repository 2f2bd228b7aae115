"""Non-volatile storage for the pump: named byte files read and written at offsets, in RAM or in real files.

The interface a shell provides (any object with these methods works):
    read_into(name, offset, buf) -> how many bytes of the file from offset landed in buf (a
                                    bytearray or a memoryview of one); 0 past the end or when
                                    the file does not exist
    write(name, offset, data)    -> writes data at offset, growing the file (a gap reads as zeros)
A shell's object may offer read(name) -> bytes or None (the whole file) instead of read_into;
adapt() then serves read_into from one cached copy of the last file read, which costs a whole
file of RAM: fine for the WebAssembly runner, not for a small board.

The pump never asks for more than a small buffer at a time (persist.CHUNK bytes, see
docs/PUMP_MODEL.md "Storage"): on a board a fragmented heap after hours of running cannot give
a 4 KB block, so nothing here reads or builds a whole file.

Names are short ASCII words ("state_a", "state_b", "log"). Every storage can be told to lose
power after N more bytes (arm_cut): the write that reaches the N-th byte stores its bytes up
to and including it and raises PowerCut. The pump wraps other objects (adapt) to get that.
"""


class PowerCut(Exception):
    """Power failed in the middle of a storage write; the pump must reboot."""


class Storage:
    """Byte counting and the armed power cut, shared by every implementation."""

    def __init__(self):
        self.bytes_written = 0
        self.writes = 0
        self.cut_after_bytes = None  # None: no cut armed

    def arm_cut(self, cut_after_bytes):
        """Lose power once cut_after_bytes more bytes have been written (1 or more)."""
        self.cut_after_bytes = cut_after_bytes

    def write(self, name, offset, data):
        self.write_parts(name, offset, (data,))

    def write_parts(self, name, offset, parts):
        """Write the parts one after the other from offset, as one write (one open of a file).

        parts may be a generator that refills one buffer for every part it yields: each part is
        written before the next is asked for, so a long run costs one small buffer."""
        self.writes += 1
        cut = [False]
        self._write_parts(name, offset, self._until_cut(parts, cut))
        if cut[0]:
            raise PowerCut()

    def _until_cut(self, parts, cut):
        for part in parts:
            left = self.cut_after_bytes
            size = len(part)
            if left is not None and size >= left:
                self.cut_after_bytes = None
                self.bytes_written += left
                cut[0] = True
                yield part[:left]
                return
            if left is not None:
                self.cut_after_bytes = left - size
            self.bytes_written += size
            yield part

    def _write_parts(self, name, offset, parts):
        for part in parts:
            self._write(name, offset, part)
            offset += len(part)


class RamStorage(Storage):
    """Files in a dict: for CPython tests, the in-process emulator and the WebAssembly runner."""

    def __init__(self):
        super().__init__()
        self.files = {}

    def read(self, name):
        """The whole file (for tests and tools; the pump itself reads with read_into)."""
        blob = self.files.get(name)
        return None if blob is None else bytes(blob)

    def read_into(self, name, offset, buf):
        blob = self.files.get(name)
        if blob is None or offset >= len(blob):
            return 0
        size = len(blob) - offset
        if size > len(buf):
            size = len(buf)
        buf[:size] = memoryview(blob)[offset:offset + size]
        return size

    def _write(self, name, offset, data):
        blob = self.files.get(name)
        if blob is None:
            blob = self.files[name] = bytearray()
        end = offset + len(data)
        if end > len(blob):
            blob.extend(bytes(end - len(blob)))
        blob[offset:end] = data


class FileStorage(Storage):
    """One file per name in a directory (a board's flash): plain open, seek, readinto and write."""

    def __init__(self, directory="."):
        super().__init__()
        self.directory = directory

    def _path(self, name):
        return "%s/pumpmock_%s.bin" % (self.directory, name)

    def read(self, name):
        """The whole file (for tools; the pump itself reads with read_into)."""
        try:
            with open(self._path(name), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def read_into(self, name, offset, buf):
        try:
            handle = open(self._path(name), "rb")
        except OSError:
            return 0
        try:
            handle.seek(offset)
            got = 0
            view = memoryview(buf)
            while got < len(view):
                count = handle.readinto(view[got:])
                if not count:
                    break
                got += count
            return got
        finally:
            handle.close()

    def _write_parts(self, name, offset, parts):
        path = self._path(name)
        try:
            handle = open(path, "r+b")
        except OSError:
            handle = open(path, "w+b")
        try:
            handle.seek(0, 2)
            size = handle.tell()
            while offset > size:  # a gap reads as zeros; written in small pieces
                step = offset - size if offset - size < 64 else 64
                handle.write(bytes(step))
                size += step
            handle.seek(offset)
            for part in parts:
                handle.write(part)
        finally:
            handle.close()

    def _write(self, name, offset, data):
        self._write_parts(name, offset, (data,))


class _Adapted(Storage):
    """A shell's own storage object, with the byte counting and power cut added."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self._streams = hasattr(inner, "read_into")
        self._cached = None  # (name, whole file or None) for an object with read(name) only

    def read_into(self, name, offset, buf):
        if self._streams:
            return self.inner.read_into(name, offset, buf)
        cached = self._cached
        if cached is None or cached[0] != name:
            cached = self._cached = (name, self.inner.read(name))
        blob = cached[1]
        if blob is None or offset >= len(blob):
            return 0
        size = len(blob) - offset
        if size > len(buf):
            size = len(buf)
        buf[:size] = memoryview(blob)[offset:offset + size]
        return size

    def _write(self, name, offset, data):
        self._cached = None
        self.inner.write(name, offset, data)


def adapt(storage):
    """The storage itself if it is one of these classes, else a wrapper that adds arm_cut."""
    return storage if isinstance(storage, Storage) else _Adapted(storage)
