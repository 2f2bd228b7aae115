"""pumpmock.harness.portio.BusyPoll: polling stops when the CPUs are contended or polls stop paying, and comes back."""

import os
import threading

import pytest

from pumpmock.harness import portio
from pumpmock.harness.portio import BusyPoll

posix_only = pytest.mark.skipif(os.name != "posix", reason="descriptor I/O is the POSIX path")


class Load:
    """A stand-in for /proc/loadavg's runnable count that a test sets."""

    def __init__(self, runnable):
        self.runnable = runnable
        self.looks = 0

    def __call__(self):
        self.looks += 1
        return self.runnable


def poll_with(runnable, cpus=2, **options):
    return BusyPoll(0.0003, cpus_allowed=cpus, runnable=Load(runnable), **options)


def test_it_polls_while_no_more_tasks_run_than_there_are_cpus():
    poll = poll_with(2)  # this process and a polling peer on two CPUs
    assert poll.budget(0.0) == 0.0003
    poll.outcome(True, False, 0.0001)
    assert poll.budget(0.001) == 0.0003


def test_it_sleeps_while_more_tasks_are_runnable_than_cpus_and_looks_again_later():
    load = Load(3)
    poll = BusyPoll(0.0003, cpus_allowed=2, runnable=load)
    assert poll.budget(0.0) == 0.0
    assert poll.budget(BusyPoll.CHECK_S / 2) == 0.0  # within CHECK_S: no new look
    assert load.looks == 1
    load.runnable = 1  # the hog went away
    assert poll.budget(BusyPoll.CHECK_S + 0.001) == 0.0003
    assert load.looks == 2
    assert poll.stats["contended_checks"] == 1 and poll.stats["sleeps_unpolled"] == 2


def test_one_crowded_look_between_clear_ones_does_not_stop_polling():
    load = Load(1)
    poll = BusyPoll(0.0003, cpus_allowed=2, runnable=load)
    assert poll.budget(0.0) == 0.0003
    load.runnable = 3  # a kernel worker ran for a moment
    assert poll.budget(BusyPoll.CHECK_S) == 0.0003
    assert poll.budget(2 * BusyPoll.CHECK_S) == 0.0  # still crowded at the next look: contended
    load.runnable = 2
    assert poll.budget(3 * BusyPoll.CHECK_S) == 0.0003


def test_without_a_runnable_count_only_the_polls_own_outcomes_decide():
    poll = poll_with(None)
    assert poll.budget(0.0) == 0.0003


def test_misses_suspend_polling_and_failed_probes_lengthen_the_suspension():
    poll = poll_with(1)
    now = 0.0
    misses = 0
    while poll.budget(now) > 0:  # polls that run out with nothing
        poll.outcome(False, False, now)
        misses += 1
        assert misses < 10
    assert misses >= 2  # one miss alone does not stop polling
    first_off = poll.off_until - now
    assert first_off == pytest.approx(BusyPoll.MIN_OFF_S)
    now = poll.off_until  # the suspension is over: probes
    assert poll.budget(now) > 0
    poll.outcome(False, False, now)
    poll.outcome(False, False, now)
    assert poll.budget(now) == 0.0
    assert poll.off_until - now == pytest.approx(2 * BusyPoll.MIN_OFF_S)
    for _ in range(10):  # the suspensions stop growing at MAX_OFF_S
        now = poll.off_until
        poll.outcome(False, False, now)
        poll.outcome(False, False, now)
    assert poll.off_until - now == pytest.approx(BusyPoll.MAX_OFF_S)


def test_a_probe_that_pays_brings_polling_back_with_the_short_suspension():
    poll = poll_with(1)
    for _ in range(3):
        poll.outcome(False, False, 0.0)
    now = poll.off_until
    poll.outcome(True, False, now)
    poll.outcome(True, False, now)
    assert poll.budget(now) == 0.0003
    assert poll.off_s == BusyPoll.MIN_OFF_S


def test_one_descheduled_poll_is_noise_and_a_few_in_a_row_suspend_polling():
    poll = poll_with(1)
    poll.outcome(True, True, 1.0)
    assert poll.budget(1.0) > 0
    poll.outcome(True, True, 1.0)
    assert poll.budget(1.0) == 0.0
    assert poll.stats["descheduled"] == 2 and poll.stats["suspensions"] == 1


def test_the_end_of_a_contended_spell_forgets_the_suspensions_it_caused():
    load = Load(1)
    poll = BusyPoll(0.0003, cpus_allowed=2, runnable=load)
    now = 0.0
    for _ in range(8):  # probes that keep failing: the suspension grows to its longest
        now = max(now, poll.off_until)
        poll.outcome(False, True, now)
    assert poll.off_s == BusyPoll.MAX_OFF_S
    load.runnable = 4
    now += BusyPoll.CHECK_S
    assert poll.budget(now) == 0.0  # contended
    load.runnable = 1
    now += BusyPoll.CHECK_S
    assert poll.budget(now) == 0.0003  # the hog went: polling at once, not after the long suspension
    assert poll.off_s == BusyPoll.MIN_OFF_S


def test_fixed_polling_polls_every_time_whatever_happens():
    poll = poll_with(8, adaptive=False)
    for _ in range(5):
        poll.outcome(False, True, 0.0)
    assert poll.budget(0.0) == 0.0003
    assert poll.stats["misses"] == 5


def test_a_setting_of_zero_means_no_polling_and_a_number_adapts():
    assert portio.busy_poll(0) is None and portio.busy_poll(0.0) is None
    assert portio.busy_poll(BusyPoll(0)) is None
    adaptive = portio.busy_poll(0.0005)
    assert adaptive.adaptive and adaptive.max_s == 0.0005
    fixed = BusyPoll(0.0002, adaptive=False)
    assert portio.busy_poll(fixed) is fixed


def test_the_runnable_count_is_read_from_loadavg(tmp_path):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("5.49 5.10 4.14 9/132 25310\n")
    assert portio.runnable_tasks(str(loadavg)) == 9
    loadavg.write_text("garbage\n")
    assert portio.runnable_tasks(str(loadavg)) is None
    assert portio.runnable_tasks(str(tmp_path / "missing")) is None


@posix_only
def test_read_fd_reports_each_poll_to_its_busy_poll():
    read_end, write_end = os.pipe()
    try:
        poll = poll_with(1)
        os.write(write_end, b"there")
        assert portio.read_fd(read_end, 5, poll) == b"there"
        assert poll.stats["hits"] == 1
        assert portio.read_fd(read_end, 0.01, poll) == b""  # nothing comes: the poll missed
        assert poll.stats["misses"] == 1
        contended = poll_with(5)
        later = threading.Timer(0.02, os.write, (write_end, b"later"))
        later.start()
        assert portio.read_fd(read_end, 5, contended) == b"later"  # slept in select, never polled
        later.join()
        assert contended.stats["hits"] == contended.stats["misses"] == 0
        assert contended.stats["sleeps_unpolled"] == 1
    finally:
        os.close(read_end)
        os.close(write_end)


@posix_only
@pytest.mark.parametrize("contended", [False, True], ids=["idle", "contended"])
def test_the_server_polls_after_input_only_while_its_busy_poll_allows(contended):
    from pumpmock import harness
    from pumpmock.harness.servers import TcpServer, make_pump

    # A long fixed poll: every request after the first lands inside it, however slow the machine.
    poll = (BusyPoll(1.0, cpus_allowed=2, runnable=Load(9)) if contended
            else BusyPoll(1.0, adaptive=False))
    server = TcpServer(make_pump(test_mode=True), busy_poll_s=poll)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with harness.connect("socket://" + server.address, timeout=2, busy_poll_s=0) as session:
            for _ in range(20):
                session.test.counters()
    finally:
        server.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    if contended:
        assert poll.stats["hits"] == poll.stats["misses"] == 0
        assert poll.stats["sleeps_unpolled"] >= 20
    else:
        assert poll.stats["hits"] >= 15
