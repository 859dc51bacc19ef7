"""The tearing oracle (its rules are in docs/usage.md): is a concurrent maps read one Linux could give?

It records every committed state of an address space (a logical clock tick at
each write unlock, with the VMAs' lines) and, for each page of a read, the
ticks at which the page started and stopped.  A read is correct when:

1. every page is whole lines, ends with a newline and holds at most 4096 bytes;
2. ``vm_end`` strictly increases over the read (the gate line last);
3. every line is a VMA of some state committed while its page was rendered;
4. no false gap: every address mapped in every state from the read's first
   tick to its last is shown by some line.

A VMA shown twice (before and after a change) is allowed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, field

import trio

from ..mm.mm import MemoryManager
from ..mm.walk import LockMode
from ..process import Process, ProcessTable
from ..procfs.maps import MapsIterator, format_maps_line, gate_vma
from ..sched import Policy, Preempter, RandomPolicy
from ..pagecache import PageCacheStats
from ..seqfile import PAGE_SIZE, SeqFile
from ..workloads import Workload

Ranges = list[tuple[int, int]]


@dataclass(frozen=True)
class CommittedState:
    tick: int
    lines: frozenset[str]
    ranges: tuple[tuple[int, int], ...]


class History:
    """Every committed state of one address space, from the moment it is attached."""

    def __init__(self, mm: MemoryManager) -> None:
        self.mm = mm
        self.states: dict[int, CommittedState] = {}
        self._record(mm)
        mm.observers.append(self._record)

    def detach(self) -> None:
        self.mm.observers.remove(self._record)

    def _record(self, mm: MemoryManager) -> None:
        vmas = mm.vmas()
        self.states[mm.stats.commits] = CommittedState(
            mm.stats.commits,
            frozenset(format_maps_line(vma) for vma in vmas),
            tuple((vma.start, vma.end) for vma in vmas),
        )

    def between(self, first: int, last: int) -> Iterator[CommittedState]:
        """States current at some moment of the window [first, last]."""
        starts = [tick for tick in self.states if tick <= first]
        begin = max(starts) if starts else min(self.states)
        for tick in sorted(self.states):
            if begin <= tick <= last:
                yield self.states[tick]


class PageWindow:
    """What one page of a read saw: the logical clock when it started and stopped."""

    __slots__ = ("start_tick", "stop_tick", "writer_steps_inside")

    def __init__(self, start_tick: int) -> None:
        self.start_tick = start_tick
        self.stop_tick = start_tick
        self.writer_steps_inside = 0


class PageRecorder:
    """A page observer that keeps one :class:`PageWindow` per page of an iterator."""

    def __init__(self, mm: MemoryManager) -> None:
        self.mm = mm
        self.windows: list[PageWindow] = []
        self._writer_steps_at_start = 0

    def page_started(self) -> None:
        self.windows.append(PageWindow(self.mm.stats.commits))
        self._writer_steps_at_start = self.mm.stats.writer_steps

    def page_stopped(self) -> None:
        window = self.windows[-1]
        window.stop_tick = self.mm.stats.commits
        window.writer_steps_inside = self.mm.stats.writer_steps - self._writer_steps_at_start


@dataclass
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    result, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if low < high:
            result.append((low, high))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


def _merge(ranges: Ranges) -> Ranges:
    merged: Ranges = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _line_range(line: str) -> tuple[int, int]:
    start, end = line.split(" ", 1)[0].split("-")
    return int(start, 16), int(end, 16)


def check_read(history: History, pages: list[bytes], windows: list[PageWindow]) -> list[Violation]:
    """All violations of rules 1-4 in one whole read."""
    violations: list[Violation] = []
    gate_line = format_maps_line(gate_vma())
    shown: Ranges = []
    previous_end = -1
    for number, (page, window) in enumerate(zip(pages, windows)):
        if len(page) > PAGE_SIZE or not page.endswith(b"\n"):
            violations.append(Violation("whole-lines", f"page {number} has {len(page)} bytes, ends {page[-20:]!r}"))
        allowed = set().union(*(state.lines for state in history.between(window.start_tick, window.stop_tick)))
        for line in page.decode().splitlines(keepends=True):
            start, end = _line_range(line)
            if end <= previous_end:
                violations.append(Violation("order", f"page {number}: {line.strip()!r} after end {previous_end:#x}"))
            previous_end = end
            if line != gate_line and line not in allowed:
                violations.append(Violation("torn", f"page {number}: {line.strip()!r} was never committed then"))
            if line != gate_line:
                shown.append((start, end))
    if pages and not pages[-1].endswith(gate_line.encode()):
        violations.append(Violation("order", "the read does not end with the gate line"))
    if windows:
        states = list(history.between(windows[0].start_tick, windows[-1].stop_tick))
        always: Ranges = list(states[0].ranges)
        for state in states[1:]:
            always = _intersect(_merge(always), _merge(list(state.ranges)))
        covered = _merge(shown)
        for start, end in _merge(always):
            missing = _subtract((start, end), covered)
            if missing:
                low, high = missing[0]
                violations.append(Violation("false-gap", f"{low:#x}-{high:#x} mapped throughout but not shown"))
    return violations


def _subtract(span: tuple[int, int], covered: Ranges) -> Ranges:
    start, end = span
    missing = []
    for low, high in covered:
        if high <= start:
            continue
        if low >= end:
            break
        if low > start:
            missing.append((start, low))
        start = max(start, high)
    if start < end:
        missing.append((start, end))
    return missing


async def read_from_start(seq: SeqFile[object]) -> list[bytes]:
    """Read an open file from offset 0 to EOF in 4096-byte reads, as ``cat`` after ``lseek(fd, 0)`` would."""
    pages, offset = [], 0
    while page := await seq.read(offset, PAGE_SIZE):
        pages.append(page)
        offset += len(page)
    return pages


async def read_whole(
    process: Process, mode: LockMode | None = None, *, fast: bool = True
) -> tuple[list[bytes], list[PageWindow]]:
    """One read of maps from offset 0 to EOF on a file of its own (``fast``: see SeqFile)."""
    recorder = PageRecorder(process.mm)
    seq = SeqFile(MapsIterator(process, mode, observer=recorder), fast=fast)
    return await read_from_start(seq), recorder.windows


def seed_trio(seed: int) -> None:
    """Make trio's own run-queue shuffling repeat for ``seed``.

    trio keeps its scheduling randomness in a private module-level Random; a
    replayable interleaving needs it seeded as well as the preemption policy.
    """
    trio._core._run._r.seed(seed)  # type: ignore[attr-defined]


@dataclass
class RaceResult:
    seed: int
    reads: int = 0
    violations: list[Violation] = field(default_factory=list)
    pages_with_writer_inside: int = 0
    #: SHA-256 of every page read, in order.
    digest: str = ""
    #: Preemption points, yields, windows, window yields, commits and writer steps at the end.
    counters: tuple[int, ...] = ()
    #: The readers' page cache fills (all zero without ``one_file``: a new file's cache is empty).
    cache: PageCacheStats = field(default_factory=PageCacheStats)

    def __str__(self) -> str:
        shown = "; ".join(str(violation) for violation in self.violations[:3])
        return f"seed={self.seed} reads={self.reads} violations={len(self.violations)} {shown}"


def run_race(
    workload: Workload,
    mode: LockMode,
    seed: int,
    reads: int = 20,
    p: float = 0.5,
    *,
    policy: Policy | None = None,
    fast: bool = True,
    cache: bool = True,
    one_file: bool = False,
    layout: Callable[[Process], None] | None = None,
) -> RaceResult:
    """Read a workload's maps ``reads`` times while it cycles, under ``random:seed:p`` or ``policy``.

    Deterministic: the same arguments give the same interleaving and result
    (``seed`` also seeds trio's scheduling).  ``fast=False`` reads without
    the reader's fast path, ``cache=False`` without the page cache;
    ``one_file`` makes every read on one open file, from offset 0 again,
    so that its page cache can serve the pages that did not change.
    ``layout`` installs VMAs in the process before the workload's setup,
    so that the reads span pages the workload alone would not fill.
    """
    result = RaceResult(seed)
    pages_hash = hashlib.sha256()

    async def main() -> None:
        table = ProcessTable(Preempter(policy if policy is not None else RandomPolicy(seed, p)), mode)
        process = table.spawn(workload.name)
        if layout is not None:
            layout(process)
        await workload.setup(process)
        history = History(process.mm)
        async with trio.open_nursery() as nursery:

            async def write_forever() -> None:
                while True:
                    await workload.cycle(process)

            nursery.start_soon(write_forever)
            recorder = PageRecorder(process.mm)
            seq: SeqFile[object] | None = None
            for _ in range(reads):
                if seq is None or not one_file:
                    recorder = PageRecorder(process.mm)
                    iterator = MapsIterator(process, mode, observer=recorder)
                    seq = SeqFile(iterator, fast=fast, cache=cache, cache_totals=result.cache)  # type: ignore[arg-type]
                seen = len(recorder.windows)
                pages = await read_from_start(seq)
                windows = recorder.windows[seen:]
                for page in pages:
                    pages_hash.update(page)
                result.reads += 1
                result.violations += check_read(history, pages, windows)
                result.pages_with_writer_inside += sum(1 for w in windows if w.writer_steps_inside)
            nursery.cancel_scope.cancel()
        history.detach()
        mm_stats = process.mm.stats
        result.counters = astuple(table.preempter.stats) + (mm_stats.commits, mm_stats.writer_steps)
        result.digest = pages_hash.hexdigest()

    seed_trio(seed)
    random.seed(seed)
    trio.run(main)
    return result


__all__ = [
    "History", "PageRecorder", "PageWindow", "RaceResult", "Violation",
    "check_read", "read_from_start", "read_whole", "run_race", "seed_trio",
]
