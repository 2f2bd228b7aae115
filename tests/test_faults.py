"""pumpmock.harness.faults: the seeded link-fault model, checked on virtual time (no clocks, no I/O)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpmock.harness.faults import MAX_UNDELIMITED, FaultModel
from pumpmock.protocol import encode_frame

END = 10 ** 12  # µs: later than anything a test schedules


def feed_all(stream, pieces):
    """Feed (data, now_us) pieces, then everything the line will ever deliver."""
    for data, now_us in pieces:
        stream.feed_us(data, now_us)
    return stream.take_us(END)


def deliveries(stream):
    """(due_us, bytes) for every delivery still in flight, taking each at exactly its due time."""
    out = []
    while stream.next_due_us() is not None:
        due_us = stream.next_due_us()
        out.append((due_us, stream.take_us(due_us)))
    return out


def chunked(data, sizes):
    """`data` cut into pieces of the given sizes (cycled), as many as it takes."""
    pieces, position, i = [], 0, 0
    while position < len(data):
        size = sizes[i % len(sizes)] if sizes else len(data)
        pieces.append(data[position:position + size])
        position += size
        i += 1
    return pieces


def frames(count, payload_size=12, start_seq=0):
    return b"".join(encode_frame(0, 0x10, (start_seq + i) & 0xFFFF, bytes([i & 0xFF]) * payload_size)
                    for i in range(count))


def split_frames(data):
    """Units as the frame unit sees them: runs ending at 0x00 (a trailing run without one last)."""
    units, start = [], 0
    while True:
        end = data.find(0, start)
        if end < 0:
            break
        units.append(data[start:end + 1])
        start = end + 1
    if start < len(data):
        units.append(data[start:])
    return units


chunk_sizes = st.lists(st.integers(1, 64), min_size=1, max_size=8)
probability = st.sampled_from([0.0, 0.01, 0.1, 0.3, 1.0])
models = st.builds(
    FaultModel, corrupt=probability, drop=probability, duplicate=probability,
    delay_ms=st.sampled_from([0, 1, 5, 0.25]), jitter_ms=st.sampled_from([0, 2, 0.1]),
    cut_after_bytes=st.none() | st.integers(0, 500), baud=st.none() | st.sampled_from([9600, 115200]),
    unit=st.sampled_from(["byte", "frame"]), seed=st.integers(-2 ** 40, 2 ** 40))
line_data = st.binary(max_size=400) | st.builds(frames, st.integers(0, 20))


# ---- the spec ------------------------------------------------------------------------------------
def test_spec_parses_every_key():
    model = FaultModel.parse("corrupt=0.01,drop=0.01,duplicate=0.005,delay=5ms,jitter=2ms,cut=4000,"
                             "unit=frame,seed=7,baud=115200")
    assert model == FaultModel(corrupt=0.01, drop=0.01, duplicate=0.005, delay_ms=5, jitter_ms=2,
                               cut_after_bytes=4000, baud=115200, unit="frame", seed=7)


@pytest.mark.parametrize("spec,expected", [
    ("corrupt=1%", FaultModel(corrupt=0.01)),
    ("drop=0.5%", FaultModel(drop=0.005)),
    ("duplicate=0.25", FaultModel(duplicate=0.25)),
    ("delay=5", FaultModel(delay_ms=5)),
    ("delay=0.5s", FaultModel(delay_ms=500)),
    ("delay=200us", FaultModel(delay_ms=0.2)),
    ("jitter=1.5ms", FaultModel(jitter_ms=1.5)),
    (" corrupt = 1% , seed = 3 ,", FaultModel(corrupt=0.01, seed=3)),
    ("", FaultModel()),
])
def test_spec_values_and_suffixes(spec, expected):
    assert FaultModel.parse(spec) == expected


@pytest.mark.parametrize("spec,named", [
    ("corrupt=2", "'corrupt'"), ("drop=150%", "'drop'"), ("duplicate=-0.1", "'duplicate'"),
    ("delay=-1ms", "'delay'"), ("jitter=3 parsecs", "'jitter'"), ("cut=-1", "'cut'"), ("cut=1.5", "'cut'"),
    ("baud=0", "'baud'"), ("unit=bit", "'unit'"), ("seed=x", "'seed'"), ("drop=nan", "'drop'"),
    ("corrupted=1%", "unknown key 'corrupted'"), ("drop", "'drop' needs a value"),
    ("drop=1%,drop=2%", "'drop' is given twice"),
])
def test_bad_specs_are_refused_naming_the_key(spec, named):
    with pytest.raises(ValueError, match=named):
        FaultModel.parse(spec)


def test_bad_constructor_arguments_are_refused():
    for arguments in ({"corrupt": 1.5}, {"delay_ms": -1}, {"baud": 0}, {"unit": "bits"},
                      {"cut_after_bytes": -3}, {"seed": "7"}):
        with pytest.raises(ValueError, match=next(iter(arguments))):
            FaultModel(**arguments)


@given(models)
def test_str_round_trips_through_parse(model):
    assert FaultModel.parse(str(model)) == model


def test_str_always_names_the_seed():
    assert str(FaultModel()) == "seed=0"
    assert FaultModel().transparent and not FaultModel(baud=9600).transparent


# ---- determinism -----------------------------------------------------------------------------------
@given(models, line_data, chunk_sizes)
def test_same_seed_same_feeds_same_output(model, data, sizes):
    pieces = [(chunk, 1000 * i) for i, chunk in enumerate(chunked(data, sizes))]
    one, two = model.stream("to_pump"), model.stream("to_pump")
    for chunk, now_us in pieces:
        one.feed_us(chunk, now_us)
        two.feed_us(chunk, now_us)
    assert deliveries(one) == deliveries(two)
    assert one.stats == two.stats


def test_directions_are_independent_streams():
    model = FaultModel(corrupt=0.3, drop=0.3, seed=1)
    data = bytes(range(256)) * 4
    assert feed_all(model.stream("to_pump"), [(data, 0)]) != feed_all(model.stream("to_host"), [(data, 0)])


@given(models.filter(lambda m: m.cut_after_bytes is None), line_data, chunk_sizes, chunk_sizes)
def test_which_units_are_hit_does_not_depend_on_chunking(model, data, sizes_a, sizes_b):
    a = feed_all(model.stream("x"), [(c, 0) for c in chunked(data, sizes_a)])
    b = feed_all(model.stream("x"), [(c, 0) for c in chunked(data, sizes_b)])
    assert a == b


# ---- a clean line ------------------------------------------------------------------------------------
@given(line_data, chunk_sizes, st.sampled_from(["byte", "frame"]), st.sampled_from([0, 3, 0.5]),
       st.sampled_from([0, 2]), st.none() | st.sampled_from([300, 115200]))
def test_without_faults_the_line_is_the_identity_at_any_chunking(data, sizes, unit, delay_ms, jitter_ms, baud):
    model = FaultModel(unit=unit, delay_ms=delay_ms, jitter_ms=jitter_ms, baud=baud)
    stream = model.stream("to_host")
    out = feed_all(stream, [(c, 250 * i) for i, c in enumerate(chunked(data, sizes))])
    held = stream.pending  # frame unit: a trailing run without a delimiter waits for one
    assert data.startswith(out)
    assert held == len(data) - len(out)
    if unit == "byte" or not data or data[-1] == 0:
        assert out == data
    assert stream.stats["bytes_in"] == len(data) and stream.stats["bytes_out"] == len(out)


def test_the_ms_api_is_integer_milliseconds():
    stream = FaultModel(delay_ms=5).stream("x")
    stream.feed(b"abc", 10)
    assert stream.next_due_ms() == 15
    assert stream.take(14) == b"" and stream.take(15) == b"abc"
    assert stream.next_due_ms() is None


def test_next_due_ms_rounds_up_so_take_at_it_has_bytes():
    stream = FaultModel(baud=115200).stream("x")
    stream.feed(b"\x55" * 5, 0)
    due_ms = stream.next_due_ms()
    assert due_ms == 1 and stream.take(due_ms) == b"\x55" * 5  # 5 bytes take 434 µs


# ---- faults, counted -------------------------------------------------------------------------------
@given(st.binary(min_size=1, max_size=600), st.integers(0, 1000), probability)
def test_byte_drops_match_the_stats_and_the_output(data, seed, rate):
    stream = FaultModel(drop=rate, seed=seed).stream("x")
    out = feed_all(stream, [(data, 0)])
    assert len(out) == len(data) - stream.stats["dropped"]
    remaining = iter(data)  # what is left is the input in order, minus some bytes
    assert all(byte in remaining for byte in out)


@given(st.binary(min_size=1, max_size=600), st.integers(0, 1000), probability)
def test_byte_corruptions_flip_exactly_one_bit_each(data, seed, rate):
    stream = FaultModel(corrupt=rate, seed=seed).stream("x")
    out = feed_all(stream, [(data, 0)])
    assert len(out) == len(data)
    differences = [a ^ b for a, b in zip(data, out) if a != b]
    assert len(differences) == stream.stats["corrupted"]
    assert all(bin(d).count("1") == 1 for d in differences)


@given(st.binary(min_size=1, max_size=600), st.integers(0, 1000), probability)
def test_byte_duplicates_match_the_stats_and_the_output(data, seed, rate):
    stream = FaultModel(duplicate=rate, seed=seed).stream("x")
    out = feed_all(stream, [(data, 0)])
    assert len(out) == len(data) + stream.stats["duplicated"]
    remaining = iter(out)  # the input is still all there, in order
    assert all(byte in remaining for byte in data)


@given(models.filter(lambda m: m.unit == "byte"), st.binary(max_size=600))
def test_byte_unit_length_accounts_for_every_fault(model, data):
    stream = model.stream("x")
    out = feed_all(stream, [(data, 0)])
    stats = stream.stats
    assert len(out) == stats["bytes_in"] - stats["cut"] - stats["dropped"] + stats["duplicated"]
    assert stats["frames_hit"] <= stats["dropped"] + stats["corrupted"] + stats["duplicated"]
    assert (stats["frames_hit"] == 0) == (stats["dropped"] + stats["corrupted"] + stats["duplicated"] == 0)


@given(st.integers(1, 40), st.integers(0, 1000), probability)
def test_frame_corruption_never_touches_a_delimiter(count, seed, rate):
    data = frames(count)
    stream = FaultModel(corrupt=rate, unit="frame", seed=seed).stream("x")
    out = feed_all(stream, [(data, 0)])
    assert len(out) == len(data)
    assert all(out[i] == 0 for i, byte in enumerate(data) if byte == 0)
    hit_frames = [a != b for a, b in zip(split_frames(data), split_frames_at(out, data))]
    assert sum(hit_frames) == stream.stats["corrupted"] == stream.stats["frames_hit"]
    for a, b in zip(split_frames(data), split_frames_at(out, data)):
        assert sum(x != y for x, y in zip(a, b)) <= 1  # one byte per corrupted frame


def split_frames_at(out, like):
    """`out` cut at the same positions as `like`'s frames (a corruption can make a new 0x00)."""
    pieces, position = [], 0
    for unit in split_frames(like):
        pieces.append(out[position:position + len(unit)])
        position += len(unit)
    return pieces


@given(st.integers(1, 40), st.integers(0, 1000), probability, probability)
def test_frame_drops_and_duplicates_move_whole_frames(count, seed, drop, duplicate):
    data = frames(count)
    stream = FaultModel(drop=drop, duplicate=duplicate, unit="frame", seed=seed).stream("x")
    out = feed_all(stream, [(data, 0)])
    sent, got = split_frames(data), split_frames(out)
    assert len(got) == len(sent) - stream.stats["dropped"] + stream.stats["duplicated"]
    collapsed = [unit for i, unit in enumerate(got) if i == 0 or unit != got[i - 1]]  # undo duplicates
    remaining = iter(sent)
    assert all(unit in remaining for unit in collapsed)  # whole frames, in order, minus dropped ones


def test_a_frame_split_over_many_feeds_is_one_unit():
    model = FaultModel(drop=1.0, unit="frame")
    stream = model.stream("x")
    for byte in frames(3):
        stream.feed_us(bytes([byte]), 0)
    assert stream.take_us(END) == b"" and stream.stats["dropped"] == 3 and stream.pending == 0


def test_lone_delimiters_pass_untouched_in_frame_unit():
    stream = FaultModel(drop=1.0, corrupt=1.0, unit="frame").stream("x")
    assert feed_all(stream, [(b"\x00\x00", 0)]) == b"\x00\x00"
    assert stream.stats["dropped"] == 0


def test_a_long_run_without_delimiters_is_faulted_in_units():
    stream = FaultModel(drop=1.0, unit="frame").stream("x")
    out = feed_all(stream, [(b"\x41" * (3 * MAX_UNDELIMITED + 5), 0)])
    assert out == b"" and stream.stats["dropped"] == 3 and stream.pending == 5


@pytest.mark.parametrize("unit,count,rates", [
    ("byte", 300_000, {"corrupt": 0.01, "drop": 0.02, "duplicate": 0.005}),
    ("frame", 20_000, {"corrupt": 0.02, "drop": 0.03, "duplicate": 0.01}),
])
def test_observed_rates_match_the_configured_ones(unit, count, rates):
    stream = FaultModel(unit=unit, seed=4242, **rates).stream("to_pump")
    data = bytes(range(1, 256)) * (count // 255) if unit == "byte" else frames(count, payload_size=4)
    feed_all(stream, [(chunk, 0) for chunk in chunked(data, [4096])])
    # Drops are drawn first, so corruption and duplication only see the units that survived.
    survivors = count - stream.stats["dropped"]
    observed = {"drop": stream.stats["dropped"] / count, "corrupt": stream.stats["corrupted"] / survivors,
                "duplicate": stream.stats["duplicated"] / survivors}
    for name, rate in rates.items():
        assert observed[name] == pytest.approx(rate, rel=0.15), (name, observed)


# ---- time ----------------------------------------------------------------------------------------
timed_pieces = st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.integers(0, 5000)), max_size=20)


@given(timed_pieces, st.integers(0, 20_000), st.integers(0, 20_000), st.integers(0, 99))
def test_order_is_preserved_under_delay_and_jitter(pieces, delay_us, jitter_us, seed):
    model = FaultModel(delay_ms=delay_us / 1000, jitter_ms=jitter_us / 1000, seed=seed)
    stream = model.stream("x")
    now_us, fed = 0, []
    for data, step_us in pieces:
        now_us += step_us
        fed.append((now_us, data))
        stream.feed_us(data, now_us)
    got = deliveries(stream)
    assert b"".join(data for _, data in got) == b"".join(data for _, data in fed)
    dues = [due for due, _ in got]
    assert dues == sorted(dues)
    # Each chunk comes out no earlier than it went in plus delay minus jitter (and never before it went in).
    position = 0
    times = [due for due, data in got for _ in data]
    for fed_us, data in fed:
        assert times[position] >= max(fed_us, fed_us + delay_us - jitter_us)
        position += len(data)


@given(timed_pieces, st.sampled_from([300, 9600, 115200, 1_000_000]), st.sampled_from([0, 1.5]))
@settings(max_examples=50)
def test_pacing_never_beats_the_baud_rate(pieces, baud, delay_ms):
    stream = FaultModel(baud=baud, delay_ms=delay_ms).stream("x")
    now_us = 0
    for data, step_us in pieces:
        now_us += step_us
        stream.feed_us(data, now_us)
    times = [due for due, data in deliveries(stream) for _ in data]
    # Byte k+m leaves at least m byte-times after byte k (less the 1 µs that rounding up can cost).
    for k in range(len(times)):
        for m in range(1, len(times) - k):
            assert (times[k + m] - times[k]) * baud >= m * 10 * 1_000_000 - baud


@pytest.mark.parametrize("baud", [9600, 115200])
def test_pacing_in_any_virtual_second_carries_at_most_baud_over_10_bytes(baud):
    stream = FaultModel(baud=baud).stream("x")
    stream.feed(bytes(baud // 4), 0)  # 2.5 s of bytes, all at once
    got = [len(stream.take(now_ms)) for now_ms in range(0, 4000)]  # one take per virtual ms
    for start in range(0, 3000, 7):
        assert sum(got[start:start + 1000]) <= baud // 10 + 1
    assert sum(got[:2501]) == baud // 4  # and it does get through at that rate: by exactly 2.5 s
    assert sum(got[:2500]) < baud // 4


def test_115200_baud_does_not_drift():
    stream = FaultModel(baud=115200).stream("x")
    for now_ms in range(1000):
        stream.feed(b"\x55" * 12, now_ms)  # 12 bytes a ms offered, 11.52 a ms possible
    times = [due for due, data in deliveries(stream) for _ in data]
    assert times[11_519] == 1_000_000  # the 11 520th byte is out at exactly 1 s
    assert times[-1] == -(-12_000 * 10 * 1_000_000 // 115200)


# ---- the cut -----------------------------------------------------------------------------------------
@given(line_data, chunk_sizes, st.integers(0, 500), st.sampled_from(["byte", "frame"]))
def test_a_cut_stops_everything_after_n_bytes(data, sizes, cut, unit):
    stream = FaultModel(cut_after_bytes=cut, unit=unit).stream("x")
    out = b""
    for chunk in chunked(data, sizes):
        stream.feed_us(chunk, 0)
        out += stream.take_us(END)
        assert stream.cut == (stream.stats["bytes_in"] >= cut)
    assert data[:cut].startswith(out) and stream.pending == len(data[:cut]) - len(out)
    if len(data) >= cut:
        assert out == data[:cut] and stream.cut  # the head of a cut frame still arrives
    assert stream.stats["cut"] == max(0, len(data) - cut)


@given(st.binary(max_size=500), st.integers(0, 500), st.integers(0, 50))
def test_a_cut_line_makes_the_same_faults_on_the_bytes_before_it(data, cut, seed):
    faulty = dict(corrupt=0.1, drop=0.1, duplicate=0.1, seed=seed)
    with_cut = feed_all(FaultModel(cut_after_bytes=cut, **faulty).stream("x"), [(data, 0)])
    assert with_cut == feed_all(FaultModel(**faulty).stream("x"), [(data[:cut], 0)])


def test_cut_zero_is_cut_from_the_start():
    stream = FaultModel(cut_after_bytes=0).stream("x")
    assert stream.cut
    assert feed_all(stream, [(b"abc", 0)]) == b"" and stream.stats["cut"] == 3
