"""/proc/<pid>/maps: the iterator (start/next/stop) and the line format.

The iterator's position is an address: after a VMA is shown the position is
its ``vm_end``, and ``last_pos`` remembers where that VMA was looked up from,
so a page that stopped early finds the same VMA again.  Two sentinels follow
the last VMA: GATE (the [vsyscall] line comes next) and END.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Generator
from itertools import accumulate
from operator import attrgetter

from ..mm.mm import MemoryManager
from ..mm.vma import PAGE_SIZE, Vma, VmFlags
from ..mm.walk import LockMode, Walker, make_walker
from ..process import Process
from ..pagecache import StepLog
from ..seqfile import PageObserver, SeqFile

GATE = (1 << 64) - 2
END = (1 << 64) - 1

#: Most preemption points a reader's fast path looks ahead at once.
QUIET_LOOKAHEAD = 1024
#: A lookup made once a page holds this many bytes is at the page boundary
#: (about two lines before the end): its race window may open whatever the slice says.
BOUNDARY_BYTES = PAGE_SIZE - 192

#: The shortest maps line: two 8-digit addresses, perms, an 8-digit offset, 00:00, inode 0, no name.
#: A page is done within ``room // SHORTEST_LINE + 1`` steps, so a run looks no further ahead.
SHORTEST_LINE = 41

#: Where the x86-64 vsyscall page starts: above every user address.
GATE_START = 0xFFFFFFFFFF600000


def gate_vma() -> Vma:
    """A new record of the vsyscall page: in no tree, never locked, always printed last.

    Each iterator owns one, because the renderer caches its line in the
    record: one record shared by every open file would be written by all.
    """
    return Vma(GATE_START, GATE_START + PAGE_SIZE, VmFlags.EXEC, 0, None, "[vsyscall]")


#: Column where the name starts on 64-bit: ``25 + 6 * sizeof(void *) - 1`` plus one space.
NAME_COLUMN = 73


#: The ``rwxp`` column for each value of READ|WRITE|EXEC (bits 0-2) plus 8 for MAYSHARE.
_PERMS = tuple(
    ("r" if bits & 1 else "-") + ("w" if bits & 2 else "-") + ("x" if bits & 4 else "-") + ("s" if bits & 8 else "p")
    for bits in range(16)
)
_PROT_BITS = int(VmFlags.READ | VmFlags.WRITE | VmFlags.EXEC)
_MAYSHARE = int(VmFlags.MAYSHARE)


def format_maps_line(vma: Vma) -> str:
    """One maps line, newline included (``show_map_vma``)."""
    # Plain-int bit tests: ``&`` on an IntFlag goes through the enum machinery.
    flags = int(vma.flags)
    perms = _PERMS[(flags & _PROT_BITS) | (8 if flags & _MAYSHARE else 0)]
    file = vma.file
    if file is not None:
        offset = vma.pgoff << 12
        major, minor, inode, name = file.dev_major, file.dev_minor, file.inode, file.path
    else:
        offset = major = minor = inode = 0
        name = vma.name
    head = f"{vma.start:08x}-{vma.end:08x} {perms} {offset:08x} {major:02x}:{minor:02x} {inode} "
    if not name:
        return head + "\n"
    return f"{head:<{NAME_COLUMN - 1}} {name}\n"


def encode(text: str) -> bytes:
    """Text to the bytes a reader gets; undecodable file-name bytes pass through as they were."""
    return text.encode("utf-8", "surrogateescape")


def maps_line(vma: Vma) -> bytes:
    """The VMA's line, rendered once and cached until the VMA changes."""
    line = vma.line
    if line is None:
        line = vma.line = encode(format_maps_line(vma))
    return line


class VmaIterator:
    """Per-open-file maps iterator (``proc_maps_private`` plus m_start/m_next/m_stop).

    ``observer``, if given, hears of every page: after ``start`` takes the
    locks and after ``stop`` drops them.
    """

    def __init__(self, process: Process, mode: LockMode | None = None, *, observer: PageObserver | None = None) -> None:
        self.process = process
        self.mm: MemoryManager = process.mm
        self.mode = mode or self.mm.reader_lock_mode
        self.walker: Walker = make_walker(self.mode, self.mm)
        self.observer = observer
        self.last_pos = 0
        self._gate = gate_vma()
        self._locked = False
        #: Bytes shown since the page started, to tell lookups at the page boundary.
        self.page_bytes = 0

    async def start(self, position: int) -> tuple[Vma | None, int]:
        if position == END:
            return None, position
        self.process.check_alive()
        if not self.process.has_mm:
            return None, END
        await self.walker.lock_range()
        self._locked = True
        self.page_bytes = 0
        if self.observer is not None:
            self.observer.page_started()
        if 0 < position != GATE:
            position = self.last_pos
        # The first lookup of a page is where a reader retakes what it dropped: at the boundary.
        return await self._find(position, at_boundary=True)

    async def next(self, vma: Vma, position: int) -> tuple[Vma | None, int]:
        if position == GATE:
            return None, END
        await self.mm.preempter.point()
        return await self._find(position, at_boundary=self.page_bytes >= BOUNDARY_BYTES)

    def steps_nowait(self, vma: Vma, position: int) -> Generator[tuple[Vma | None, int], None, None]:
        """What successive :meth:`next` calls return, for as long as none of them would await.

        That is while no writer is inside and none of their preemption
        points would yield: nothing else runs meanwhile, so the walk sees
        what the awaited one would, and the points are counted as passed.
        Stops at the first step it cannot vouch for, having passed nothing
        for it.  Must be exhausted or closed before the caller awaits.
        O(1) amortized per step.
        """
        walker = self.walker
        if not walker.can_walk_nowait():
            return
        preempter = self.mm.preempter
        # Past this many bytes, the next lookup's race window opens: the awaited path takes it.
        open_from = BOUNDARY_BYTES if walker.lookup_points and preempter.policy.opens_boundary_windows else END
        # A lookup that finds nothing passes only the step's own point; this is the most a step passes.
        step_points = 1 + walker.lookup_points
        quiet = preempter.policy.quiet_points(QUIET_LOOKAHEAD)
        cursor = walker.cursor
        passed = 0
        looked_up = False
        found: Vma | None = None
        try:
            while position != GATE:
                if passed + step_points > quiet or self.page_bytes >= open_from:
                    return
                looked_up = True
                where = cursor.find(position)
                if where is None:
                    passed += 1
                    found = None
                    yield self._gate, GATE
                    break
                passed += step_points
                found = where[2]
                self.last_pos = position
                position = found.end
                yield found, position
            yield None, END
        finally:
            if looked_up:
                preempter.passed(passed)
                walker.hold_nowait(found)

    def content_version(self) -> int | None:
        """What the walk would find and show changes only with ``mm_lock_seq``; None while a writer is inside.  O(1).

        Every change of a VMA, of the tree and of the resident pages happens
        while the sequence is odd, and it only moves on.
        """
        seq = self.mm.seq.value
        return None if seq & 1 else seq

    def replay_nowait(self, steps: StepLog[Vma], shown_at_end: int, taken: int, position: int) -> int:
        """Take ``steps[taken:]``, recorded at this content version, as :meth:`steps_nowait` would step now.

        The same steps pass the same checks and points and leave the same
        ``last_pos``, VMA held and ``page_bytes``; the bytes shown before a
        step, recorded with it, never fall from one step to the next.
        Returns how many steps are taken in all.  O(log n): the
        run of steps allowed is found by arithmetic and bisection, with no
        lookup and no rendering.
        """
        walker = self.walker
        if not walker.can_walk_nowait():
            return taken
        preempter = self.mm.preempter
        open_from = BOUNDARY_BYTES if walker.lookup_points and preempter.policy.opens_boundary_windows else END
        step_points = 1 + walker.lookup_points
        quiet = preempter.policy.quiet_points(QUIET_LOOKAHEAD)
        records, indices, shown = steps.columns()
        last = len(records)
        end = taken
        if position != GATE:
            # Every step but one from the gate to the end is a lookup; one goes while
            # the points before it and its own stay quiet and the page is short of the boundary.
            lookups = last - 1 if indices[-1] == END else last
            end = min(lookups, taken + quiet // step_points, bisect_left(shown, open_from, taken, lookups))
        if end > taken:
            found, reached = records[end - 1], indices[end - 1]
            last_found = end - 1
            passed = (end - taken) * step_points
            if reached == GATE:
                # Only the last lookup can find nothing (the gate is shown next), and it passes one point.
                found = None
                last_found -= 1
                passed += 1 - step_points
            if last_found >= taken:
                # last_pos is where the last VMA found was looked up from.
                self.last_pos = indices[last_found - 1] if last_found > taken else position
            preempter.passed(passed)
            walker.hold_nowait(found)
            position = reached
        if end < last and position == GATE:
            # After the gate comes the end: no point, nothing to check.
            end += 1
        if end > taken:
            self.page_bytes = shown[end] if end < last else shown_at_end
        return end

    async def _find(self, position: int, at_boundary: bool) -> tuple[Vma | None, int]:
        vma = await self.walker.get_next(position, at_boundary)
        if vma is None:
            return self._gate, GATE
        self.last_pos = position
        return vma, vma.end

    def stop(self) -> None:
        if not self._locked:
            return
        self._locked = False
        self.walker.unlock_range()
        if self.observer is not None:
            self.observer.page_stopped()


_CACHED_LINE = attrgetter("line")
_END = attrgetter("end")


class MapsIterator(VmaIterator):
    """SeqIterator for /proc/<pid>/maps, with runs of cached lines for the fast path (a RunIterator)."""

    def show(self, vma: Vma) -> bytes:
        line = maps_line(vma)
        self.page_bytes += len(line)
        return line

    def take_nowait(
        self, vma: Vma, position: int, length: int, wanted: int, limit: int, recorded: StepLog[Vma] | None
    ) -> tuple[list[bytes], Vma | None, int, bool, int]:
        """What SeqFile takes from :meth:`steps_nowait` into a page of ``length`` bytes, in one run of VMAs.

        The same lookups, lines, points, page bytes and held lock as
        stepping record by record: while no writer is inside, successive
        lookups are successive ranges of the tree, so one cursor run fetches
        them and the page's rules (``wanted``, ``limit``, the boundary where
        windows open, the quiet points) become bisections of the running
        length.  Stops short of the gate, which is then awaited, as is any
        step it cannot vouch for.  A page cache's ``recorded`` log keeps the
        run's VMAs and running lengths as they are, in O(1).
        O(log n + k) for k VMAs, with no Python-level work per VMA once
        their lines are cached.
        """
        walker = self.walker
        # Mid-write, a range and its VMA's fields may disagree and stepping by
        # vm_end need not follow the tree's order (nolock steps even then).
        if position == GATE or self.mm.writer_inside() or not walker.can_walk_nowait():
            return [], vma, position, False, 0
        preempter = self.mm.preempter
        policy = preempter.policy
        step_points = 1 + walker.lookup_points
        open_from = BOUNDARY_BYTES if walker.lookup_points and policy.opens_boundary_windows else END
        # The iterator counts bytes from the page's first record, SeqFile from its own start.
        shown_before = self.page_bytes - length
        count = min(policy.quiet_points(QUIET_LOOKAHEAD) // step_points, (limit - length) // SHORTEST_LINE + 1)
        vmas = walker.cursor.run(position, count) if count > 0 else []
        if not vmas:
            return [], vma, position, False, 0
        lines: list[bytes] = list(map(_CACHED_LINE, vmas))
        if None in lines:
            lines = list(map(maps_line, vmas))
        # lengths[j]: the page's length once the first j lines are added.
        lengths = list(accumulate(map(len, lines), initial=length))
        # Step j (from 1) looks up with lengths[j - 1] bytes shown; past open_from its window may open.
        steps = min(len(vmas), bisect_left(lengths, open_from - shown_before))
        # The page ends at the first step that finds it full (nothing shown) or whose line does not fit (shown).
        full_at = bisect_left(lengths, wanted) + 1
        overflow_at = bisect_left(lengths, limit)
        done = min(full_at, overflow_at) <= steps
        if done:
            steps = min(full_at, overflow_at)
            added = steps - 1
            shown = steps if overflow_at < full_at else added
        else:
            added = shown = steps
        if steps == 0:
            return [], vma, position, False, 0
        found = vmas[steps - 1]
        self.last_pos = vmas[steps - 2].end if steps > 1 else position
        self.page_bytes += lengths[shown] - length
        preempter.passed(steps * step_points)
        walker.hold_nowait(found)
        if recorded is not None:
            recorded.add_run(vmas, lengths, steps, _END)
        return lines[:added], found, found.end, done, lengths[shown] - lengths[added]


async def page_boundary_vma_start(process: Process) -> int:
    """Start of the VMA whose line ends the first page a maps reader gets.

    Asked of the real reader, so the page rule lives only in seq_file.
    ValueError if maps fits in one page.  O(VMAs in the first page).
    """
    first_page = await SeqFile(MapsIterator(process)).read(0, PAGE_SIZE)
    lines = first_page.decode().splitlines()
    if not lines or lines[-1].endswith("[vsyscall]"):
        raise ValueError("maps fits in one page: no VMA sits at a page boundary")
    return int(lines[-1].split("-", 1)[0], 16)
