"""MemoryManager: one simulated address space (``struct mm_struct``).

It ties together the VMA tree, ``mmap_lock``, the write sequence, the per-VMA
locks and the writer's preemption point.  Writers change it under
:meth:`MemoryManager.write_locked`, step by step through a
:class:`~fakeproc.mm.transaction.Transaction` (see :mod:`fakeproc.mm.syscalls`);
readers walk it through :mod:`fakeproc.mm.walk`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..sched import WRITER_STEP_NS, Preempter
from .locks import RWSemaphore, SeqCount, VmaLocks
from .resident import ResidentRanges
from .tree import VmaTree
from .vma import PAGE_SIZE, AnonVma, Vma
from .walk import LockMode

#: x86-64 user address space: TASK_SIZE_MAX.
TASK_SIZE = 0x7FFFFFFFF000
#: Lowest address mmap may hand out (vm.mmap_min_addr) unless the host says otherwise.
MMAP_MIN_ADDR = 0x10000
#: vm.max_map_count unless the host says otherwise.
MAX_MAP_COUNT = 65530
#: Where top-down placement starts unless a process says otherwise.
DEFAULT_MMAP_BASE = 0x7F0000000000
#: Inode number of the first shmem file behind a shared anonymous mapping.
FIRST_SHMEM_INODE = 0x1000

CommitObserver = Callable[["MemoryManager"], None]

_MMAP_MIN_ADDR_FILE = Path("/proc/sys/vm/mmap_min_addr")
_MAX_MAP_COUNT_FILE = Path("/proc/sys/vm/max_map_count")
#: Present exactly when the kernel is built with CONFIG_TRANSPARENT_HUGEPAGE.
THP_ENABLED_FILE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@dataclass(frozen=True)
class Limits:
    """The host's settings that decide mmap answers: two sysctls and whether THP exists.

    The defaults are a common distribution's values with THP alignment off;
    :meth:`from_host` reads the running kernel's, so that a simulation gives
    the answers the host would.
    """

    #: vm.mmap_min_addr: no mapping below it (EPERM for fixed, hints rounded up).
    mmap_min_addr: int = MMAP_MIN_ADDR
    #: vm.max_map_count: the most VMAs an address space may have.
    max_map_count: int = MAX_MAP_COUNT
    #: Whether no-hint private anonymous mappings whose length is a multiple
    #: of 2 MiB are placed on a 2 MiB boundary (Linux 6.7 and later built
    #: with CONFIG_TRANSPARENT_HUGEPAGE, whatever the sysfs mode says).
    thp_align: bool = False

    @classmethod
    def from_host(cls) -> Limits:
        """This machine's values; a setting that cannot be read keeps its default."""
        return cls(
            _read_sysctl(_MMAP_MIN_ADDR_FILE, MMAP_MIN_ADDR),
            _read_sysctl(_MAX_MAP_COUNT_FILE, MAX_MAP_COUNT),
            THP_ENABLED_FILE.exists(),
        )


def _read_sysctl(path: Path, default: int) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return default


@dataclass
class MmStats:
    """Writer-side counters.  ``commits`` is the logical clock; readers count their own pages."""

    commits: int = 0
    #: Preemption points passed inside write transactions, so a reader can tell one ran during its page.
    writer_steps: int = 0


class MemoryManager:
    """An address space.  Create VMAs only through transactions."""

    def __init__(
        self,
        preempter: Preempter | None = None,
        mmap_base: int = DEFAULT_MMAP_BASE,
        reader_lock_mode: LockMode = LockMode.VMA,
        limits: Limits = Limits(),
    ) -> None:
        self.preempter = preempter if preempter is not None else Preempter()
        self.limits = limits
        self.mmap_base = mmap_base
        #: How maps readers lock this address space unless a reader asks for another mode.
        self.reader_lock_mode = reader_lock_mode
        self.tree = VmaTree()
        self.mmap_lock = RWSemaphore()
        self.seq = SeqCount()
        self.vma_locks = VmaLocks(self.seq)
        #: The address ranges that have been faulted in (Rss).  Changed only
        #: through :meth:`add_resident` and :meth:`drop_resident`.
        self.resident = ResidentRanges()
        #: The most bytes ever mapped (VmPeak) and resident (VmHWM).  Raised
        #: where the sizes grow, so a peak survives the unmap that ends it.
        self.hiwater_vm = 0
        self.hiwater_rss = 0
        self.stats = MmStats()
        self.observers: list[CommitObserver] = []
        # Numbered per address space, so that what a run shows does not
        # depend on what ran before it in the same Python process.
        self._shmem_inodes = itertools.count(FIRST_SHMEM_INODE)
        self._anon_vma_numbers = itertools.count(1)

    def __repr__(self) -> str:
        return f"<MemoryManager {len(self.tree)} VMAs seq={self.seq.value} {self.mmap_lock!r}>"

    @property
    def map_count(self) -> int:
        """Number of VMAs.  O(1)."""
        return len(self.tree)

    @property
    def total_vm(self) -> int:
        """Bytes mapped, as the tree records them (VmSize).  O(1)."""
        return self.tree.mapped_bytes

    @property
    def rss(self) -> int:
        """Bytes faulted in (VmRSS).  O(1)."""
        return self.resident.total

    def vmas(self) -> list[Vma]:
        """Every VMA in address order.  O(n).  Meaningful outside transactions."""
        return [vma for _, _, vma in self.tree]

    def resident_pages(self, start: int, end: int) -> int:
        """Faulted-in pages within ``[start, end)``.  O(log n + k), k resident ranges inside it."""
        return self.resident.count(start, end) // PAGE_SIZE

    def store(self, start: int, end: int, vma: Vma) -> None:
        """Map ``[start, end)`` to ``vma`` in the tree and raise VmPeak.  O((k + 1) log n), k ranges overwritten.

        Every store of the model comes through here; an erase only shrinks
        the mapping, so it goes to the tree directly.
        """
        self.tree.store(start, end, vma)
        self.hiwater_vm = max(self.hiwater_vm, self.tree.mapped_bytes)

    def add_resident(self, start: int, end: int) -> None:
        """Fault the pages of ``[start, end)`` in and raise VmHWM.  O((k + 1) log n), k resident ranges it joins."""
        self.resident.add(start, end)
        self.hiwater_rss = max(self.hiwater_rss, self.rss)

    def drop_resident(self, start: int, end: int) -> None:
        """Forget the faulted-in pages of ``[start, end)``.  O((k + 1) log n), k resident ranges it meets."""
        self.resident.remove(start, end)

    def allocate_shmem_inode(self) -> int:
        """A fresh inode number for the shmem file of a shared anonymous mapping.  O(1)."""
        return next(self._shmem_inodes)

    def new_anon_vma(self) -> AnonVma:
        """A fresh anon_vma for memory faulted in here.  O(1)."""
        return AnonVma(next(self._anon_vma_numbers))

    def write_locked(self) -> WriteHold:
        """Hold ``mmap_lock`` for write; every VMA write lock ends with it (``async with``).

        Observers see the new state once it is committed, before any waiter
        runs, so each committed state gets its own tick of the logical clock.
        """
        return WriteHold(self)

    def writer_preempt(self) -> Coroutine[Any, Any, None]:
        """The writer's preemption point, ending each step of a write transaction (counted in ``writer_steps``).

        To be awaited at once.  A plain function handing back the policy's
        point, not a coroutine of its own: every step passes here, and a
        coroutine frame more per step is measurable.  O(1).
        """
        self.stats.writer_steps += 1
        return self.preempter.point(WRITER_STEP_NS)

    def lock_taken_point(self) -> Coroutine[Any, Any, None]:
        """The preemption point a writer passes on taking a free ``mmap_lock``, before ``mm_lock_seq`` turns odd.

        It charges a writer step's virtual time but is not one of the
        transaction's steps (``writer_steps`` does not count it).  To be
        awaited at once, like :meth:`writer_preempt`.  O(1).
        """
        return self.preempter.point(WRITER_STEP_NS)

    def writer_inside(self) -> bool:
        """True while a writer holds ``mmap_lock`` (its transaction may be half done).  O(1)."""
        return self.mmap_lock.write_locked

    def check(self) -> None:
        """Assert the settled invariants (no transaction in progress).  O(n)."""
        assert not self.seq.writing, "check() during a transaction"
        self.tree.check(settled=True)
        assert self.hiwater_vm >= self.total_vm and self.hiwater_rss >= self.rss, "a size above its peak"
        for _, _, vma in self.tree:
            assert vma.start % PAGE_SIZE == 0 and vma.end % PAGE_SIZE == 0, vma
            assert vma.readers >= 0, vma

    def install(self, vma: Vma) -> None:
        """Add a VMA to an address space that no reader can see yet.  O(log n).

        Populations and clones build processes this way, far faster than one
        transaction per VMA; everything else goes through :mod:`.syscalls`.
        The sequence moves on as around a write, so that whatever was
        rendered before (a reader's page cache) is known to be out of date.
        """
        if vma.start >= vma.end or self.tree.overlapping(vma.start, vma.end):
            raise ValueError(f"cannot install {vma!r}: empty or overlapping")
        self.seq.write_begin()
        self.store(vma.start, vma.end, vma)
        self.seq.write_end()


class WriteHold:
    """``async with mm.write_locked()``: one write transaction's hold of ``mmap_lock``.

    A plain class, not a generator-based context manager: every write goes
    through it.  Taking a free lock is a preemption point of the policy
    rather than an unconditional checkpoint, and the point comes after the
    lock is taken and before ``mm_lock_seq`` turns odd, so a reader may still
    meet a write-locked address space whose sequence is even.
    """

    __slots__ = ("_mm",)

    def __init__(self, mm: MemoryManager) -> None:
        self._mm = mm

    async def __aenter__(self) -> None:
        mm = self._mm
        await mm.mmap_lock.acquire_write(mm.lock_taken_point)
        mm.seq.write_begin()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        mm = self._mm
        mm.seq.write_end()
        mm.stats.commits += 1
        for observe in mm.observers:
            observe(mm)
        mm.mmap_lock.release_write()
