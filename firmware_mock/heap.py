"""The heap watch behind TC_HEAP_INFO: free and used heap after a collect, and their extremes.

A board's heap is one per interpreter, so the watch is module state, not a pump's. It costs
nothing until the first TC_HEAP_INFO (test mode only) starts it: from then on every watch
point (after each input, each save and each load) collects and reads the heap, which a
microcontroller does in a few ms. Reading after a collect counts live data only: garbage
would make every reading on a long-running board look full.

CPython has no gc.mem_free: there every heap figure is 0, documented as "unknown", never a
guess. The largest buffer is counted by persist.Persistence per pump and passed in.
"""

import gc

_MEM_FREE = getattr(gc, "mem_free", None)
_MEM_ALLOC = getattr(gc, "mem_alloc", None)

_watch = [False, 0, 0]  # watching, lowest free, highest used since the last ask
# False where a collect inside a call cannot free that call's garbage (the WebAssembly port,
# see docs/PUMP_MODEL.md section 14): the shell then calls outer_point() between calls instead.
INNER_POINTS = [True]


def _read():
    """(free, used) after a collect; (0, 0) where the port cannot tell."""
    if _MEM_FREE is None or _MEM_ALLOC is None:
        return 0, 0
    gc.collect()
    return _MEM_FREE(), _MEM_ALLOC()


def point():
    """A watch point: a moment the heap may be at its fullest (cheap when nobody asked)."""
    if INNER_POINTS[0]:
        outer_point()


def outer_point():
    """A watch point the shell calls between two calls into the pump."""
    if not _watch[0]:
        return
    free, used = _read()
    if free < _watch[1]:
        _watch[1] = free
    if used > _watch[2]:
        _watch[2] = used


def info(largest_buffer_bytes):
    """The TC_HEAP_INFO answer; starts a new watch window at the current figures."""
    free, used = _read()
    if _watch[0]:
        low = _watch[1] if _watch[1] < free else free
        peak = _watch[2] if _watch[2] > used else used
    else:
        low, peak = free, used  # the first ask: the watch starts now
    _watch[0], _watch[1], _watch[2] = True, free, used
    return {"free_bytes": free & 0xFFFFFFFF, "low_free_bytes": low & 0xFFFFFFFF, "used_bytes": used & 0xFFFFFFFF,
            "peak_used_bytes": peak & 0xFFFFFFFF, "largest_buffer_bytes": largest_buffer_bytes & 0xFFFFFFFF}
