"""Locks of an address space, built on trio's ParkingLot in trio's own style.

* :class:`RWSemaphore` is ``mmap_lock``: a fair read/write semaphore in which a
  waiting writer blocks new readers.
* :class:`SeqCount` is ``mm_lock_seq``: odd while the address space is
  write-locked, so a lockless reader can tell whether it raced a writer.
* :class:`VmaLocks` holds the per-VMA lock operations: the write side marks a
  VMA with the current odd sequence and waits for its readers; the read side
  never waits.
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from trio.lowlevel import ParkingLot, Task, cancel_shielded_checkpoint, checkpoint_if_cancelled, current_task

from .vma import Vma


@dataclass(frozen=True)
class RWSemaphoreStatistics:
    """Returned by :meth:`RWSemaphore.statistics`."""

    readers: int
    writer: Task | None
    readers_waiting: int
    writers_waiting: int


class RWSemaphore:
    """A fair read/write semaphore (``mmap_lock``).

    Readers share the lock; a writer holds it alone.  A writer that is waiting
    blocks readers that arrive after it, so a stream of readers cannot starve
    writers.  When a writer releases, every reader waiting at that moment is
    let in together before the next writer; so writers cannot starve readers
    either.  Acquiring is always a cancellation point, and a checkpoint
    unless the caller gives the writer's own point to pass on a free lock;
    only a holder may release.
    """

    def __init__(self) -> None:
        self._readers: Counter[Task] = Counter()
        self._writer: Task | None = None
        self._read_lot = ParkingLot()
        self._write_lot = ParkingLot()

    def __repr__(self) -> str:
        if self._writer is not None:
            state = f"write-locked by {self._writer.name}"
        elif self._readers:
            state = f"read-locked by {sum(self._readers.values())} reader(s)"
        else:
            state = "unlocked"
        return (
            f"<RWSemaphore {state}, {len(self._read_lot)} reader(s) and "
            f"{len(self._write_lot)} writer(s) waiting>"
        )

    def statistics(self) -> RWSemaphoreStatistics:
        """Who holds the lock and how many wait.  O(1)."""
        return RWSemaphoreStatistics(
            readers=sum(self._readers.values()),
            writer=self._writer,
            readers_waiting=len(self._read_lot),
            writers_waiting=len(self._write_lot),
        )

    @property
    def write_locked(self) -> bool:
        return self._writer is not None

    @property
    def read_locked(self) -> bool:
        return bool(self._readers)

    def acquire_read_nowait(self) -> None:
        """Take a read lock or raise trio.WouldBlock.  O(1)."""
        if self._writer is not None or len(self._write_lot):
            raise trio.WouldBlock
        self._readers[current_task()] += 1

    async def acquire_read(self) -> None:
        """Take a read lock, waiting behind a holding or waiting writer.  O(1)."""
        await checkpoint_if_cancelled()
        try:
            self.acquire_read_nowait()
        except trio.WouldBlock:
            # The releasing writer counts us in before unparking us.
            await self._read_lot.park()
        else:
            await cancel_shielded_checkpoint()

    def release_read(self) -> None:
        """Drop a read lock held by the current task.  O(1) plus the wake-up."""
        task = current_task()
        if not self._readers[task]:
            del self._readers[task]
            raise RuntimeError("release_read by a task that holds no read lock")
        self._readers[task] -= 1
        if not self._readers[task]:
            del self._readers[task]
        if not self._readers:
            self._wake_writer()

    def acquire_write_nowait(self) -> None:
        """Take the write lock or raise trio.WouldBlock.  O(1)."""
        if self._writer is not None or self._readers or len(self._write_lot):
            raise trio.WouldBlock
        self._writer = current_task()

    async def acquire_write(self, free_point: Callable[[], Awaitable[None]] = cancel_shielded_checkpoint) -> None:
        """Take the write lock, waiting for all holders.  O(1) plus ``free_point``.

        A free lock is taken at once and then ``free_point()`` runs with it
        held; by default that is a checkpoint, as trio's own locks make.  A
        caller may pass a point that yields only when its policy says so.  If
        the point raises (a cancellation while it yields), the lock is given
        back before the error propagates.
        """
        await checkpoint_if_cancelled()
        try:
            self.acquire_write_nowait()
        except trio.WouldBlock:
            try:
                await self._write_lot.park()
            except BaseException:
                # Cancelled while waiting (never after being woken: then we
                # hold the lock).  If we were the last waiting writer, the
                # readers queued behind us must not stay parked.
                if self._writer is None and not len(self._write_lot):
                    self._admit_readers()
                raise
            return
        try:
            await free_point()
        except BaseException:
            self.release_write()
            raise

    def release_write(self) -> None:
        """Drop the write lock held by the current task.  O(1) plus wake-ups."""
        if self._writer is not current_task():
            raise RuntimeError("release_write by a task that does not hold the write lock")
        self._writer = None
        if len(self._read_lot):
            self._admit_readers()
        else:
            self._wake_writer()

    def _admit_readers(self) -> None:
        """Let every waiting reader in; each is counted before it runs."""
        for task in self._read_lot.unpark_all():
            self._readers[task] += 1

    def _wake_writer(self) -> None:
        # Most releases find no writer waiting; unpark itself is several calls deep.
        if len(self._write_lot):
            self._writer = self._write_lot.unpark()[0]


class SeqCount:
    """``mm_lock_seq``: bumped when the write lock is taken and again when released.

    Odd means a writer is inside.  A reader snapshots it before a lockless
    lookup and asks afterwards whether it moved.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def write_begin(self) -> None:
        self.value += 1

    def write_end(self) -> None:
        self.value += 1

    @property
    def writing(self) -> bool:
        return bool(self.value & 1)

    def speculate_begin(self) -> tuple[bool, int]:
        """``(stable, snapshot)``; stable is False while a writer is inside.  O(1)."""
        value = self.value
        return not (value & 1), value

    def speculate_retry(self, snapshot: int) -> bool:
        """True if a writer entered since ``snapshot`` was taken.  O(1)."""
        return self.value != snapshot


class VmaLockFailed(Exception):
    """``vma_start_read`` could not take the lock; ``errno`` says why.

    EAGAIN: the VMA was detached, look it up again.  EBUSY: it is write-locked.
    """

    def __init__(self, code: int) -> None:
        super().__init__(errno.errorcode[code])
        self.errno = code


class VmaLocks:
    """Per-VMA locks of one address space.

    A VMA is write-locked while ``vma.lock_seq`` equals the current odd
    ``mm_lock_seq``; releasing ``mmap_lock`` moves the sequence on and so
    unlocks them all at once.  One ParkingLot serves every VMA: writers
    waiting for readers to leave re-check their own VMA when woken.
    """

    def __init__(self, seq: SeqCount) -> None:
        self._seq = seq
        self._readers_left = ParkingLot()

    def __repr__(self) -> str:
        return f"<VmaLocks seq={self._seq.value}, {len(self._readers_left)} writer(s) waiting for readers>"

    def is_write_locked(self, vma: Vma) -> bool:
        return self._seq.writing and vma.lock_seq == self._seq.value

    def start_read(self, vma: Vma) -> None:
        """Take a read lock without waiting (``vma_start_read``).  O(1).

        Raises VmaLockFailed(EAGAIN) if the VMA is detached, (EBUSY) if it is
        write-locked.
        """
        if vma.detached:
            raise VmaLockFailed(errno.EAGAIN)
        if self.is_write_locked(vma):
            raise VmaLockFailed(errno.EBUSY)
        vma.readers += 1

    def start_read_locked(self, vma: Vma) -> None:
        """Take a read lock while ``mmap_lock`` is held for read: cannot fail.  O(1)."""
        assert not vma.detached and not self.is_write_locked(vma), vma
        vma.readers += 1

    def end_read(self, vma: Vma) -> None:
        """Drop a read lock (``vma_end_read``).  O(1) plus wake-ups."""
        if vma.readers <= 0:
            raise RuntimeError(f"end_read on {vma!r} that has no readers")
        vma.readers -= 1
        if vma.readers == 0 and len(self._readers_left):
            self._readers_left.unpark_all()

    async def start_write(self, vma: Vma) -> None:
        """Write-lock ``vma`` (``vma_start_write``) and wait for its readers to leave.

        The caller holds ``mmap_lock`` for write.
        """
        if not self._seq.writing:
            raise RuntimeError("vma write lock taken without mmap_lock held for write")
        vma.lock_seq = self._seq.value
        while vma.readers:
            await self._readers_left.park()

    async def mark_detached(self, vma: Vma) -> None:
        """Detach a write-locked VMA for good, after its readers leave."""
        if not self.is_write_locked(vma):
            raise RuntimeError(f"detaching {vma!r} that is not write-locked")
        while vma.readers:
            await self._readers_left.park()
        vma.detached = True
