"""How a maps reader finds and locks the next VMA, one class per lock mode.

Each walker mirrors the kernel's three small steps: ``lock_range`` when a page
starts, ``get_next(last_pos)`` for every record, ``unlock_range`` when the page
stops.  ``get_next`` returns the first VMA ending above ``last_pos``, locked as
the mode requires, or None past the last VMA.
"""

from __future__ import annotations

import errno
import enum
from typing import TYPE_CHECKING

from .locks import VmaLockFailed
from .tree import TreeCursor
from .vma import Vma

if TYPE_CHECKING:
    # MemoryManager holds its readers' LockMode, so it imports this module.
    from .mm import MemoryManager


class LockMode(enum.Enum):
    """How maps readers of an address space lock it: a property of the simulated kernel, like CONFIG_PER_VMA_LOCK."""

    MMAP = "mmap"
    VMA = "vma"
    VMA_NOGAPCHECK = "vma-nogapcheck"
    NOLOCK = "nolock"

    @classmethod
    def parse(cls, text: str) -> LockMode:
        try:
            return cls(text)
        except ValueError:
            names = ", ".join(mode.value for mode in cls)
            raise ValueError(f"lock mode {text!r} is not one of {names}") from None


class Walker:
    """Base: holds the address space; subclasses pick the locking.

    The base ``get_next`` is a plain tree lookup, right only when the range
    lock already keeps writers out (or, in ``nolock``, on purpose not).
    Every lookup goes through the walker's own cursor, so a walk of n VMAs
    costs O(n) however many other readers walk the same tree.
    """

    #: Preemption points one ``get_next`` passes after a lookup that found a VMA, none of them yielding.
    lookup_points = 0

    def __init__(self, mm: MemoryManager) -> None:
        self.mm = mm
        self.cursor = TreeCursor(mm.tree)

    async def lock_range(self) -> None:
        """Called when a page starts."""

    def can_walk_nowait(self) -> bool:
        """True if ``get_next`` cannot wait or retry while none of its points yields.  O(1).

        Then a walk may look VMAs up with :attr:`cursor` alone, passing
        ``lookup_points`` for each found, and end with :meth:`hold_nowait`:
        in a cooperative scheduler nothing changes until something yields,
        and a lock taken and dropped with no yield between is invisible.
        """
        return True

    def hold_nowait(self, vma: Vma | None) -> None:
        """Hold what ``get_next`` would hold after returning ``vma`` from such a walk."""

    async def get_next(self, last_pos: int, at_boundary: bool = False) -> Vma | None:
        """The first VMA ending above ``last_pos``, locked as the mode requires.

        ``at_boundary``: the lookup is near a page boundary, where a race
        window may open whatever the policy's slice says.
        """
        found = self.cursor.find(last_pos)
        return None if found is None else found[2]

    def unlock_range(self) -> None:
        """Called when a page stops: drop whatever the mode holds."""


class MmapLockWalker(Walker):
    """Before Linux 6.17: ``mmap_lock`` held for read across the whole page."""

    async def lock_range(self) -> None:
        await self.mm.mmap_lock.acquire_read()

    def unlock_range(self) -> None:
        self.mm.mmap_lock.release_read()


class VmaLockWalker(Walker):
    """Linux 6.17: a read lock on one VMA at a time (``lock_next_vma``).

    The lookup runs with no lock (the kernel's RCU walk), so it may race a
    writer; the checks after taking the VMA lock decide whether to trust it,
    and ``mmap_lock`` is the fallback that always makes progress.
    ``gap_check=False`` is the v1 bug, kept to prove the tests can fail.
    """

    def __init__(self, mm: MemoryManager, gap_check: bool = True) -> None:
        super().__init__(mm)
        self.gap_check = gap_check
        self.locked: Vma | None = None

    lookup_points = 1

    def can_walk_nowait(self) -> bool:
        # With no writer inside, nothing in the tree is detached or
        # write-locked and the sequence is even: no check of the lookup fails.
        return not self.mm.writer_inside()

    def hold_nowait(self, vma: Vma | None) -> None:
        held = self.locked
        if held is not None:
            # vma_end_read; no writer is inside, so none waits for it.
            held.readers -= 1
        if vma is not None:
            vma.readers += 1
        self.locked = vma

    async def get_next(self, last_pos: int, at_boundary: bool = False) -> Vma | None:
        self._unlock_vma()
        vma = await self._lock_next_vma(last_pos, at_boundary)
        self.locked = vma
        return vma

    def unlock_range(self) -> None:
        self._unlock_vma()

    def _unlock_vma(self) -> None:
        if self.locked is not None:
            self.mm.vma_locks.end_read(self.locked)
            self.locked = None

    async def _lock_next_vma(self, last_pos: int, at_boundary: bool) -> Vma | None:
        mm = self.mm
        while True:
            stable, snapshot = mm.seq.speculate_begin()
            found = self.cursor.find(last_pos)
            if found is None:
                return None
            vma = found[2]
            await mm.preempter.window(mm.writer_inside, at_boundary)
            try:
                mm.vma_locks.start_read(vma)
            except VmaLockFailed as failure:
                if failure.errno == errno.EAGAIN:
                    continue
                return await self._lock_under_mmap_lock(last_pos)
            if last_pos >= vma.end:
                return await self._unlock_and_fall_back(vma, last_pos)
            if self.gap_check and last_pos < vma.start and (not stable or mm.seq.speculate_retry(snapshot)):
                again = self.cursor.find(last_pos)
                if again is None or again[2] is not vma:
                    return await self._unlock_and_fall_back(vma, last_pos)
            return vma

    async def _unlock_and_fall_back(self, vma: Vma, last_pos: int) -> Vma | None:
        self.mm.vma_locks.end_read(vma)
        return await self._lock_under_mmap_lock(last_pos)

    async def _lock_under_mmap_lock(self, last_pos: int) -> Vma | None:
        """The fallback: find and read-lock the VMA while holding ``mmap_lock``."""
        mm = self.mm
        await mm.mmap_lock.acquire_read()
        try:
            found = self.cursor.find(last_pos)
            if found is None:
                return None
            mm.vma_locks.start_read_locked(found[2])
            return found[2]
        finally:
            mm.mmap_lock.release_read()


class NoLockWalker(Walker):
    """Broken on purpose: an unlocked tree walk that trusts whatever it sees.

    Its lookup has the lockless walk's race window, as in ``vma`` mode, and
    no check after it.
    """

    lookup_points = 1

    async def get_next(self, last_pos: int, at_boundary: bool = False) -> Vma | None:
        found = self.cursor.find(last_pos)
        if found is None:
            return None
        await self.mm.preempter.window(self.mm.writer_inside, at_boundary)
        return found[2]


def make_walker(mode: LockMode, mm: MemoryManager) -> Walker:
    if mode is LockMode.MMAP:
        return MmapLockWalker(mm)
    if mode is LockMode.VMA:
        return VmaLockWalker(mm)
    if mode is LockMode.VMA_NOGAPCHECK:
        return VmaLockWalker(mm, gap_check=False)
    return NoLockWalker(mm)
