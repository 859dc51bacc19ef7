"""mmap_lock (RWSemaphore), mm_lock_seq (SeqCount) and the per-VMA locks.

Interleavings are replayed exactly: tasks are started one by one and
``wait_all_tasks_blocked`` lets every runnable task run until it parks, or a
``Sequencer`` orders the steps of several tasks.  No test depends on time.
"""

from __future__ import annotations

import errno

import pytest
import trio
from trio.testing import Sequencer, assert_checkpoints, assert_no_checkpoints, wait_all_tasks_blocked

from fakeproc.mm import syscalls
from fakeproc.mm.locks import RWSemaphore, SeqCount, VmaLockFailed, VmaLocks
from fakeproc.mm.mm import MemoryManager
from fakeproc.mm.syscalls import MapFlags
from fakeproc.mm.vma import PAGE_SIZE, Vma, VmFlags
from fakeproc.sched import WRITER_STEP_NS, AlwaysPolicy, NeverPolicy, Policy, Preempter, RandomPolicy

FIXED_ANONYMOUS = MapFlags.PRIVATE | MapFlags.ANONYMOUS | MapFlags.FIXED


class Holder:
    """A task that takes the lock when started and releases it when told to."""

    def __init__(self, lock: RWSemaphore, write: bool, log: list[str], name: str) -> None:
        self.lock, self.write, self.log, self.name = lock, write, log, name
        self.holding = False
        self.release = trio.Event()

    async def run(self) -> None:
        if self.write:
            await self.lock.acquire_write()
        else:
            await self.lock.acquire_read()
        self.holding = True
        self.log.append(f"{self.name} in")
        await self.release.wait()
        self.holding = False
        self.log.append(f"{self.name} out")
        if self.write:
            self.lock.release_write()
        else:
            self.lock.release_read()


async def start(nursery: trio.Nursery, holder: Holder) -> Holder:
    """Start ``holder`` and let it run until it holds the lock or parks waiting for it."""
    nursery.start_soon(holder.run, name=holder.name)
    await wait_all_tasks_blocked()
    return holder


async def finish(holder: Holder) -> None:
    holder.release.set()
    await wait_all_tasks_blocked()


# --- RWSemaphore: sharing and exclusion ----------------------------------------


async def test_readers_share_the_lock() -> None:
    lock = RWSemaphore()
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        r1 = await start(nursery, Holder(lock, False, log, "r1"))
        r2 = await start(nursery, Holder(lock, False, log, "r2"))
        assert r1.holding and r2.holding
        assert lock.read_locked and not lock.write_locked
        assert lock.statistics().readers == 2
        await finish(r1)
        assert lock.statistics().readers == 1
        await finish(r2)
    assert not lock.read_locked
    assert log == ["r1 in", "r2 in", "r1 out", "r2 out"]


async def test_writer_excludes_readers_and_writers() -> None:
    lock = RWSemaphore()
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        w1 = await start(nursery, Holder(lock, True, log, "w1"))
        assert w1.holding and lock.write_locked
        r = await start(nursery, Holder(lock, False, log, "r"))
        w2 = await start(nursery, Holder(lock, True, log, "w2"))
        assert not r.holding and not w2.holding
        await finish(w1)
        # The reader that waited goes first; w2 waits for it.
        assert r.holding and not w2.holding
        await finish(r)
        assert w2.holding
        await finish(w2)
    assert log == ["w1 in", "w1 out", "r in", "r out", "w2 in", "w2 out"]


async def test_writer_waits_for_every_reader() -> None:
    lock = RWSemaphore()
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        r1 = await start(nursery, Holder(lock, False, log, "r1"))
        r2 = await start(nursery, Holder(lock, False, log, "r2"))
        w = await start(nursery, Holder(lock, True, log, "w"))
        assert not w.holding
        await finish(r1)
        assert not w.holding
        await finish(r2)
        assert w.holding
        await finish(w)


async def test_waiting_writer_blocks_new_readers() -> None:
    """Fairness: a reader arriving after a waiting writer waits behind it."""
    lock = RWSemaphore()
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        r1 = await start(nursery, Holder(lock, False, log, "r1"))
        w = await start(nursery, Holder(lock, True, log, "w"))
        r2 = await start(nursery, Holder(lock, False, log, "r2"))
        # Only readers hold the lock, yet r2 may not join them.
        assert r1.holding and not w.holding and not r2.holding
        with pytest.raises(trio.WouldBlock):
            lock.acquire_read_nowait()
        await finish(r1)
        assert w.holding and not r2.holding
        await finish(w)
        assert r2.holding
        await finish(r2)
    assert log == ["r1 in", "r1 out", "w in", "w out", "r2 in", "r2 out"]


async def test_writer_release_admits_all_waiting_readers_before_next_writer() -> None:
    """Readers waiting when a writer leaves go in together, ahead of a waiting writer."""
    lock = RWSemaphore()
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        w1 = await start(nursery, Holder(lock, True, log, "w1"))
        r1 = await start(nursery, Holder(lock, False, log, "r1"))
        w2 = await start(nursery, Holder(lock, True, log, "w2"))
        r2 = await start(nursery, Holder(lock, False, log, "r2"))
        stats = lock.statistics()
        assert (stats.readers_waiting, stats.writers_waiting) == (2, 1)
        await finish(w1)
        assert r1.holding and r2.holding and not w2.holding
        # A reader arriving now waits: w2 is queued.
        r3 = await start(nursery, Holder(lock, False, log, "r3"))
        assert not r3.holding
        await finish(r1)
        await finish(r2)
        assert w2.holding and not r3.holding
        await finish(w2)
        assert r3.holding
        await finish(r3)


async def test_sequencer_replays_reader_writer_reader_interleaving() -> None:
    """Exact interleaving: r1 holds, w queues, r2 queues, r1 leaves, w runs, r2 runs."""
    lock = RWSemaphore()
    seq = Sequencer()
    log: list[str] = []

    async def r1() -> None:
        async with seq(0):
            await lock.acquire_read()
            log.append("r1 in")
        async with seq(3):
            log.append("r1 out")
            lock.release_read()

    async def w() -> None:
        async with seq(1):
            log.append("w waits")
        # Leaving seq(1) does not yield: w parks before r2 gets its turn.
        await lock.acquire_write()
        log.append("w in")
        async with seq(4):
            assert lock.statistics().readers_waiting == 1
            log.append("w out")
            lock.release_write()

    async def r2() -> None:
        async with seq(2):
            log.append("r2 waits")
            assert lock.statistics().writers_waiting == 1
        await lock.acquire_read()
        log.append("r2 in")
        async with seq(5):
            lock.release_read()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(r2)
        nursery.start_soon(w)
        nursery.start_soon(r1)
    assert log == ["r1 in", "w waits", "r2 waits", "r1 out", "w in", "w out", "r2 in"]


async def test_reader_may_nest_its_own_read_lock() -> None:
    lock = RWSemaphore()
    await lock.acquire_read()
    await lock.acquire_read()
    assert lock.statistics().readers == 2
    lock.release_read()
    assert lock.read_locked
    lock.release_read()
    assert not lock.read_locked
    with pytest.raises(RuntimeError):
        lock.release_read()


# --- RWSemaphore: ownership, checkpoints, cancellation -------------------------


async def test_release_by_a_task_that_does_not_hold_raises() -> None:
    lock = RWSemaphore()
    with pytest.raises(RuntimeError):
        lock.release_read()
    with pytest.raises(RuntimeError):
        lock.release_write()

    errors: list[type[BaseException]] = []

    async def try_release(write: bool) -> None:
        try:
            lock.release_write() if write else lock.release_read()
        except RuntimeError as error:
            errors.append(type(error))

    # Another task holds it for read: neither release works from here.
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        r = await start(nursery, Holder(lock, False, log, "r"))
        await try_release(False)
        await try_release(True)
        assert lock.statistics().readers == 1
        await finish(r)
    # Held for write by the test task: another task may not release it.
    await lock.acquire_write()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(try_release, True)
        nursery.start_soon(try_release, False)
    assert lock.write_locked
    lock.release_write()
    assert errors == [RuntimeError] * 4
    assert not lock.write_locked and not lock.read_locked


async def test_acquire_is_a_checkpoint_even_uncontended() -> None:
    lock = RWSemaphore()
    with assert_checkpoints():
        await lock.acquire_read()
    with assert_no_checkpoints():
        lock.release_read()
    with assert_checkpoints():
        await lock.acquire_write()
    with assert_no_checkpoints():
        lock.release_write()


async def test_acquire_in_a_cancelled_scope_raises_without_taking_the_lock() -> None:
    lock = RWSemaphore()
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await lock.acquire_read()
        with pytest.raises(trio.Cancelled):
            await lock.acquire_write()
    assert not lock.read_locked and not lock.write_locked


async def test_cancelled_waiting_reader_leaves_no_trace() -> None:
    lock = RWSemaphore()
    await lock.acquire_write()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lock.acquire_read)
        await wait_all_tasks_blocked()
        assert lock.statistics().readers_waiting == 1
        nursery.cancel_scope.cancel()
    assert lock.statistics().readers_waiting == 0
    lock.release_write()
    assert not lock.read_locked
    with assert_checkpoints():
        await lock.acquire_write()
    lock.release_write()


async def test_cancelled_waiting_writer_lets_the_readers_it_blocked_in() -> None:
    """Readers parked behind a waiting writer must not stay parked if it gives up."""
    lock = RWSemaphore()
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        r1 = await start(nursery, Holder(lock, False, log, "r1"))
        writer_scope = trio.CancelScope()

        async def writer() -> None:
            with writer_scope:
                await lock.acquire_write()
                log.append("w in")  # never: cancelled while waiting

        nursery.start_soon(writer)
        await wait_all_tasks_blocked()
        r2 = await start(nursery, Holder(lock, False, log, "r2"))
        assert not r2.holding
        writer_scope.cancel()
        await wait_all_tasks_blocked()
        assert lock.statistics().writers_waiting == 0
        assert r2.holding, lock
        await finish(r1)
        await finish(r2)
    assert "w in" not in log
    assert not lock.read_locked and not lock.write_locked


async def test_cancelled_writer_behind_another_writer_keeps_readers_queued_fairly() -> None:
    lock = RWSemaphore()
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        r1 = await start(nursery, Holder(lock, False, log, "r1"))
        w1 = await start(nursery, Holder(lock, True, log, "w1"))
        scope = trio.CancelScope()

        async def w2() -> None:
            with scope:
                await lock.acquire_write()

        nursery.start_soon(w2)
        await wait_all_tasks_blocked()
        r2 = await start(nursery, Holder(lock, False, log, "r2"))
        scope.cancel()
        await wait_all_tasks_blocked()
        # w1 still waits, so r2 still waits behind it.
        assert not r2.holding and not w1.holding
        await finish(r1)
        assert w1.holding and not r2.holding
        await finish(w1)
        assert r2.holding
        await finish(r2)


async def test_statistics_and_repr_show_holders_and_waiters() -> None:
    lock = RWSemaphore()
    assert "unlocked" in repr(lock)
    stats = lock.statistics()
    assert (stats.readers, stats.writer, stats.readers_waiting, stats.writers_waiting) == (0, None, 0, 0)
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        w = await start(nursery, Holder(lock, True, log, "the-writer"))
        await start(nursery, Holder(lock, False, log, "r1"))
        await start(nursery, Holder(lock, False, log, "r2"))
        await start(nursery, Holder(lock, True, log, "w2"))
        stats = lock.statistics()
        assert stats.writer is not None and stats.writer.name.endswith("the-writer")
        assert (stats.readers, stats.readers_waiting, stats.writers_waiting) == (0, 2, 1)
        text = repr(lock)
        assert "write-locked by" in text and "the-writer" in text
        assert "2 reader(s) and 1 writer(s) waiting" in text
        await finish(w)
        assert "read-locked by 2 reader(s)" in repr(lock)
        assert "0 reader(s) and 1 writer(s) waiting" in repr(lock)
        nursery.cancel_scope.cancel()


async def test_nowait_variants() -> None:
    lock = RWSemaphore()
    lock.acquire_read_nowait()
    with pytest.raises(trio.WouldBlock):
        lock.acquire_write_nowait()
    lock.release_read()
    lock.acquire_write_nowait()
    with pytest.raises(trio.WouldBlock):
        lock.acquire_read_nowait()
    with pytest.raises(trio.WouldBlock):
        lock.acquire_write_nowait()
    lock.release_write()


async def test_acquire_write_passes_the_given_point_on_a_free_lock_with_the_lock_held() -> None:
    lock = RWSemaphore()
    held_at_point: list[bool] = []

    async def point() -> None:
        held_at_point.append(lock.write_locked)

    await lock.acquire_write(point)
    assert held_at_point == [True]
    lock.release_write()
    # A point that does not yield leaves acquiring a cancellation point only.
    with pytest.raises(AssertionError, match="did not yield"):
        with assert_checkpoints():
            await lock.acquire_write(point)
    lock.release_write()


async def test_acquire_write_after_waiting_skips_the_free_lock_point() -> None:
    lock = RWSemaphore()
    points: list[str] = []
    log: list[str] = []

    async def point() -> None:
        points.append("point")

    async def writer() -> None:
        await lock.acquire_write(point)
        log.append("w in")
        lock.release_write()

    async with trio.open_nursery() as nursery:
        reader = await start(nursery, Holder(lock, False, log, "r"))
        nursery.start_soon(writer)
        await wait_all_tasks_blocked()
        assert lock.statistics().writers_waiting == 1
        await finish(reader)
    assert log == ["r in", "r out", "w in"] and points == []


async def test_acquire_write_with_a_point_in_a_cancelled_scope_takes_nothing() -> None:
    lock = RWSemaphore()
    points: list[str] = []

    async def point() -> None:
        points.append("point")

    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await lock.acquire_write(point)
    assert points == [] and not lock.write_locked


async def test_cancelled_at_the_free_lock_point_gives_the_lock_to_the_next_writer() -> None:
    lock = RWSemaphore()
    log: list[str] = []
    scope = trio.CancelScope()

    async def yielding_point() -> None:
        log.append("point")
        await trio.sleep_forever()

    async def first() -> None:
        with scope:
            await lock.acquire_write(yielding_point)
            log.append("first in")  # never: cancelled at the point

    async with trio.open_nursery() as nursery:
        nursery.start_soon(first)
        await wait_all_tasks_blocked()
        assert lock.write_locked
        second = await start(nursery, Holder(lock, True, log, "second"))
        assert not second.holding
        scope.cancel()
        await wait_all_tasks_blocked()
        assert second.holding
        await finish(second)
    assert log == ["point", "second in", "second out"]
    assert not lock.write_locked


# --- SeqCount -------------------------------------------------------------------


def test_seqcount_speculation() -> None:
    seq = SeqCount()
    stable, snapshot = seq.speculate_begin()
    assert stable and not seq.writing
    assert not seq.speculate_retry(snapshot)
    seq.write_begin()
    assert seq.writing
    assert seq.speculate_retry(snapshot)
    inside_stable, inside = seq.speculate_begin()
    assert not inside_stable and inside % 2 == 1
    seq.write_end()
    assert not seq.writing
    assert seq.speculate_retry(snapshot) and seq.speculate_retry(inside)
    stable, after = seq.speculate_begin()
    assert stable and after == snapshot + 2


def make_mm() -> tuple[MemoryManager, Vma]:
    mm = MemoryManager(Preempter(NeverPolicy()))
    vma = Vma(0x10000, 0x10000 + 4 * PAGE_SIZE, VmFlags.READ | VmFlags.WRITE)
    mm.install(vma)
    return mm, vma


async def test_write_locked_bumps_seq_twice_and_commits_before_waiters_run() -> None:
    mm, _ = make_mm()
    seen: list[tuple[bool, bool, int]] = []
    mm.observers.append(lambda m: seen.append((m.seq.writing, m.mmap_lock.write_locked, m.stats.commits)))
    stable, snapshot = mm.seq.speculate_begin()
    async with mm.write_locked():
        assert mm.seq.writing and mm.mmap_lock.write_locked
        assert not mm.seq.speculate_begin()[0]
    assert mm.seq.speculate_retry(snapshot)
    assert mm.seq.value == snapshot + 2
    assert not mm.mmap_lock.write_locked
    # The observer saw the committed state (seq even) while the lock was still held.
    assert seen == [(False, True, 1)]


async def test_write_locked_on_a_free_lock_charges_one_writer_step_outside_the_transaction_steps() -> None:
    mm, _ = make_mm()
    async with mm.write_locked():
        pass
    stats = mm.preempter.stats
    assert (stats.points, stats.virtual_ns, stats.yields) == (1, WRITER_STEP_NS, 0)
    assert mm.stats.writer_steps == 0


async def test_write_locked_in_a_cancelled_scope_takes_nothing() -> None:
    mm, _ = make_mm()
    seq_before = mm.seq.value
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            async with mm.write_locked():
                raise AssertionError("entered a cancelled transaction")
    assert not mm.mmap_lock.write_locked and mm.seq.value == seq_before
    assert mm.preempter.stats.points == 0 and mm.stats.commits == 0


async def states_seen_by_a_spinning_reader(policy: Policy, transactions: int) -> set[tuple[bool, bool]]:
    """``(mmap_lock write-locked, mm_lock_seq odd)`` pairs a reader meets between checkpoints.

    Meanwhile a writer unmaps and maps back the second page of a four-page
    VMA, ``transactions`` times.
    """
    mm = MemoryManager(Preempter(policy))
    vma = Vma(0x10000, 0x10000 + 4 * PAGE_SIZE, VmFlags.READ | VmFlags.WRITE)
    mm.install(vma)
    page = vma.start + PAGE_SIZE
    seen: set[tuple[bool, bool]] = set()
    done = trio.Event()

    async def writer() -> None:
        for number in range(transactions):
            if number % 2:
                await syscalls.mmap(mm, page, PAGE_SIZE, VmFlags.READ | VmFlags.WRITE, FIXED_ANONYMOUS)
            else:
                await syscalls.munmap(mm, page, PAGE_SIZE)
            mm.check()
        done.set()

    async def reader() -> None:
        while True:
            seen.add((mm.mmap_lock.write_locked, mm.seq.writing))
            if done.is_set():
                return
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        nursery.start_soon(writer)
    return seen


@pytest.mark.parametrize("policy", [AlwaysPolicy(), RandomPolicy(1), RandomPolicy(7, 0.3)], ids=repr)
async def test_a_reader_meets_mmap_lock_taken_with_the_sequence_still_even(policy: Policy) -> None:
    seen = await states_seen_by_a_spinning_reader(policy, 50)
    assert (True, False) in seen and (True, True) in seen, seen


async def test_a_policy_that_never_yields_hides_the_taken_lock_from_readers() -> None:
    seen = await states_seen_by_a_spinning_reader(NeverPolicy(), 50)
    assert seen == {(False, False)}


async def test_write_locked_releases_on_error() -> None:
    mm, _ = make_mm()
    with pytest.raises(ZeroDivisionError):
        async with mm.write_locked():
            1 / 0
    assert not mm.seq.writing and not mm.mmap_lock.write_locked
    assert mm.stats.commits == 1


async def test_writer_seq_is_odd_only_while_mmap_lock_is_held_for_write() -> None:
    mm, _ = make_mm()
    seq = Sequencer()
    observed: list[bool] = []

    async def writer() -> None:
        async with seq(0):
            pass
        async with mm.write_locked():
            async with seq(1):
                pass
            async with seq(3):
                pass

    async def reader() -> None:
        async with seq(2):
            observed.append(mm.seq.speculate_begin()[0])
        async with seq(4):
            pass
        # The writer's exit has no checkpoint after seq(3) ends: wait for it.
        await wait_all_tasks_blocked()
        observed.append(mm.seq.speculate_begin()[0])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        nursery.start_soon(reader)
    assert observed == [False, True]


# --- VmaLocks ---------------------------------------------------------------------


async def test_start_read_fails_ebusy_on_write_locked_vma() -> None:
    mm, vma = make_mm()
    locks = mm.vma_locks
    async with mm.write_locked():
        # Not yet write-locked: a reader may still get in during the transaction.
        locks.start_read(vma)
        locks.end_read(vma)
        await locks.start_write(vma)
        assert locks.is_write_locked(vma)
        with pytest.raises(VmaLockFailed) as failure:
            locks.start_read(vma)
        assert failure.value.errno == errno.EBUSY
        assert vma.readers == 0
    # Releasing mmap_lock released the VMA write lock.
    assert not locks.is_write_locked(vma)
    locks.start_read(vma)
    assert vma.readers == 1
    locks.end_read(vma)


async def test_all_vma_write_locks_end_with_the_mmap_write_lock() -> None:
    mm = MemoryManager(Preempter(NeverPolicy()))
    vmas = [Vma(0x10000 + i * PAGE_SIZE, 0x11000 + i * PAGE_SIZE, VmFlags.READ) for i in range(4)]
    for vma in vmas:
        mm.install(vma)
    async with mm.write_locked():
        for vma in vmas[:3]:
            await mm.vma_locks.start_write(vma)
        assert [mm.vma_locks.is_write_locked(v) for v in vmas] == [True, True, True, False]
    assert not any(mm.vma_locks.is_write_locked(v) for v in vmas)
    for vma in vmas:
        mm.vma_locks.start_read(vma)
        mm.vma_locks.end_read(vma)
    # The next transaction has a new seq: the old marks do not lock again.
    async with mm.write_locked():
        assert not any(mm.vma_locks.is_write_locked(v) for v in vmas)


async def test_start_read_fails_eagain_on_detached_vma() -> None:
    mm, vma = make_mm()
    async with mm.write_locked():
        await mm.vma_locks.start_write(vma)
        await mm.vma_locks.mark_detached(vma)
    assert vma.detached
    with pytest.raises(VmaLockFailed) as failure:
        mm.vma_locks.start_read(vma)
    assert failure.value.errno == errno.EAGAIN
    assert vma.readers == 0


async def test_start_write_needs_the_mmap_write_lock() -> None:
    mm, vma = make_mm()
    with pytest.raises(RuntimeError):
        await mm.vma_locks.start_write(vma)
    with pytest.raises(RuntimeError):
        await mm.vma_locks.mark_detached(vma)
    async with mm.write_locked():
        # Detaching needs the VMA write lock, not just mmap_lock.
        with pytest.raises(RuntimeError):
            await mm.vma_locks.mark_detached(vma)
    assert not vma.detached


async def test_start_write_waits_for_readers_to_leave() -> None:
    mm, vma = make_mm()
    locks = mm.vma_locks
    log: list[str] = []
    leave = trio.Event()

    async def reader() -> None:
        locks.start_read(vma)
        log.append("read")
        await leave.wait()
        log.append("unread")
        locks.end_read(vma)

    async def writer() -> None:
        async with mm.write_locked():
            await locks.start_write(vma)
            log.append("write-locked")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await wait_all_tasks_blocked()
        nursery.start_soon(writer)
        await wait_all_tasks_blocked()
        assert log == ["read"]
        # Marked at once, so no new reader gets in while the writer waits.
        assert locks.is_write_locked(vma)
        with pytest.raises(VmaLockFailed) as failure:
            locks.start_read(vma)
        assert failure.value.errno == errno.EBUSY
        assert "1 writer(s) waiting for readers" in repr(locks)
        leave.set()
    assert log == ["read", "unread", "write-locked"]
    assert vma.readers == 0


async def test_writer_waiting_on_one_vma_ignores_readers_of_others() -> None:
    mm = MemoryManager(Preempter(NeverPolicy()))
    a = Vma(0x10000, 0x11000, VmFlags.READ)
    b = Vma(0x11000, 0x12000, VmFlags.READ | VmFlags.WRITE)
    mm.install(a)
    mm.install(b)
    locks = mm.vma_locks
    locks.start_read(a)
    locks.start_read(b)
    done = trio.Event()

    async def writer() -> None:
        async with mm.write_locked():
            await locks.start_write(a)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await wait_all_tasks_blocked()
        locks.end_read(b)  # wakes the writer, which must park again
        await wait_all_tasks_blocked()
        assert not done.is_set()
        locks.end_read(a)
    assert done.is_set()


async def test_mark_detached_waits_for_readers() -> None:
    mm, vma = make_mm()
    locks = mm.vma_locks
    log: list[str] = []
    leave = trio.Event()

    async def reader() -> None:
        locks.start_read(vma)
        await leave.wait()
        log.append("unread")
        locks.end_read(vma)

    async def writer() -> None:
        async with mm.write_locked():
            async with trio.open_nursery() as inner:
                # start_write marks the VMA at once, then waits for the reader;
                # meanwhile the same transaction tries to detach it.
                inner.start_soon(locks.start_write, vma)
                await wait_all_tasks_blocked()
                await locks.mark_detached(vma)
                log.append("detached")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await wait_all_tasks_blocked()
        nursery.start_soon(writer)
        await wait_all_tasks_blocked()
        assert not vma.detached and vma.readers == 1
        leave.set()
    assert log == ["unread", "detached"]
    assert vma.detached


async def test_end_read_without_a_reader_raises() -> None:
    mm, vma = make_mm()
    with pytest.raises(RuntimeError):
        mm.vma_locks.end_read(vma)
    mm.vma_locks.start_read_locked(vma)
    mm.vma_locks.end_read(vma)
    assert vma.readers == 0


def test_vma_lock_failed_carries_errno() -> None:
    failure = VmaLockFailed(errno.EBUSY)
    assert failure.errno == errno.EBUSY and "EBUSY" in str(failure)
    assert "seq=0" in repr(VmaLocks(SeqCount()))
