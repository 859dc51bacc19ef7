"""VmaTree: the address space's own map of ranges to VMAs (the maple tree's role).

The tree records ranges itself instead of reading them from the VMAs, so that
in the middle of a transaction a VMA's fields and its tree range may disagree,
exactly as they may in the kernel between ``vma->vm_end = addr`` and
``vma_iter_store()``.  Keys are never mutated: a changed range is removed and
stored again.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from operator import itemgetter

from sortedcontainers import SortedDict

from .sortedkeys import key_above, key_below, keys_above
from .vma import Vma


class TreeCorrupt(AssertionError):
    """Raised by :meth:`VmaTree.check` when an invariant does not hold."""


class VmaTree:
    """Non-overlapping half-open ranges ``[start, end)``, each mapped to a Vma.

    Stored as a SortedDict keyed by range end, so "the first range that ends
    after ``addr``" (the maps iterator's question) is one bisection.  The
    tree's own lookups keep no position; a reader walking it range by range
    owns a :class:`TreeCursor`.

    Lookups ask for neighbours by address, never by rank, through
    :mod:`.sortedkeys`.
    """

    __slots__ = ("_by_end", "_version", "mapped_bytes")

    def __init__(self) -> None:
        self._by_end: SortedDict[int, tuple[int, Vma]] = SortedDict()
        #: Bumped by every change; a cursor positioned in an older version searches again.
        self._version = 0
        #: Total length of the ranges, kept by :meth:`store` so that reading it is O(1).
        self.mapped_bytes = 0

    def __len__(self) -> int:
        """Number of ranges.  O(1)."""
        return len(self._by_end)

    def find(self, addr: int) -> tuple[int, int, Vma] | None:
        """The first range with ``end > addr``, as ``(start, end, vma)``.

        This is ``vma_find(addr, ULONG_MAX)``: the range containing ``addr`` or
        the next one above it.  O(log n); a walk that asks range after range
        uses a :class:`TreeCursor` instead.
        """
        end = key_above(self._by_end, addr)
        if end is None:
            return None
        start, vma = self._by_end[end]
        return start, end, vma

    def find_before(self, addr: int) -> tuple[int, int, Vma] | None:
        """The last range with ``start < addr``.  O(log n)."""
        ends = self._by_end
        # The range reaching addr (its end is addr or above) if it starts below addr, else the one before it.
        end = key_above(ends, addr - 1)
        if end is not None:
            start, vma = ends[end]
            if start < addr:
                return start, end, vma
        end = key_below(ends, addr)
        if end is None:
            return None
        start, vma = ends[end]
        return start, end, vma

    def lookup(self, addr: int) -> Vma | None:
        """The VMA whose range contains ``addr``.  O(log n)."""
        found = self.find(addr)
        if found is None or found[0] > addr:
            return None
        return found[2]

    def overlapping(self, start: int, end: int) -> list[tuple[int, int, Vma]]:
        """All ranges that intersect ``[start, end)``, in address order.  O(log n + k)."""
        result = []
        by_end = self._by_end
        for range_end in keys_above(by_end, start):
            range_start, vma = by_end[range_end]
            if range_start >= end:
                break
            result.append((range_start, range_end, vma))
        return result

    def store(self, start: int, end: int, vma: Vma | None) -> None:
        """Map ``[start, end)`` to ``vma`` (or to nothing), overwriting what was there.

        Ranges that overlap the edges are trimmed, keeping their VMA: this is
        how ``vma_iter_store`` of a split-off VMA shrinks its neighbour's range
        in the maple tree.  O((k + 1) log n) for k overwritten ranges.
        """
        if start >= end:
            raise ValueError(f"empty range {start:#x}-{end:#x}")
        ends = self._by_end
        self._version += 1
        # Each overlapped range is trimmed, dropped or taken over in place: a
        # key that survives is never deleted and set again.
        range_end = key_above(ends, start)
        while range_end is not None:
            range_start, old = ends[range_end]
            if range_start >= end:
                break
            self.mapped_bytes -= min(range_end, end) - max(range_start, start)
            if range_end > end:
                ends[range_end] = (end, old)
            elif range_end < end or vma is None:
                del ends[range_end]
            if range_start < start:
                ends[start] = (range_start, old)
            if range_end >= end:
                break
            range_end = key_above(ends, range_end)
        if vma is not None:
            ends[end] = (start, vma)
            self.mapped_bytes += end - start

    def erase(self, start: int, end: int) -> None:
        """Map ``[start, end)`` to nothing.  O(log n + k)."""
        self.store(start, end, None)

    def __iter__(self) -> Iterator[tuple[int, int, Vma]]:
        """All ranges in address order.  O(n)."""
        for end, (start, vma) in self._by_end.items():
            yield start, end, vma

    def iter_from(self, addr: int) -> Iterator[tuple[int, int, Vma]]:
        """Ranges with ``end > addr`` in address order.  O(log n) to start, O(1) each."""
        for end in self._by_end.irange(minimum=addr, inclusive=(False, True)):
            start, vma = self._by_end[end]
            yield start, end, vma

    def iter_down_from(self, addr: int) -> Iterator[tuple[int, int, Vma]]:
        """Ranges with ``start < addr`` in descending order.  O(log n) to start, O(1) each."""
        straddling = self.find(addr)
        if straddling is not None and straddling[0] < addr:
            yield straddling
        for end in self._by_end.irange(maximum=addr, reverse=True):
            start, vma = self._by_end[end]
            yield start, end, vma

    def check(self, settled: bool = True) -> None:
        """Assert the invariants.  O(n).

        Always: ranges are non-empty, sorted and non-overlapping, and
        ``mapped_bytes`` is their total length.  When ``settled`` (no
        transaction in progress): each range equals its VMA's fields, every
        VMA is in the tree once and none is detached.
        """
        previous_end = -1
        total = 0
        seen: set[int] = set()
        for end, (start, vma) in self._by_end.items():
            if not start < end:
                raise TreeCorrupt(f"empty range {start:#x}-{end:#x}")
            if start < previous_end:
                raise TreeCorrupt(f"range {start:#x}-{end:#x} overlaps the previous one")
            previous_end = end
            total += end - start
            if settled:
                if (vma.start, vma.end) != (start, end):
                    raise TreeCorrupt(f"tree range {start:#x}-{end:#x} disagrees with {vma!r}")
                if id(vma) in seen:
                    raise TreeCorrupt(f"{vma!r} appears twice")
                if vma.detached:
                    raise TreeCorrupt(f"{vma!r} is detached but still in the tree")
                seen.add(id(vma))
        if total != self.mapped_bytes:
            raise TreeCorrupt(f"mapped_bytes is {self.mapped_bytes:#x}, the ranges add up to {total:#x}")


class TreeCursor:
    """One reader's position in a :class:`VmaTree` (a maple-tree walk's state).

    Each reader owns its cursor, so readers of one tree never move each
    other's position, and the tree's own lookups move none.
    """

    __slots__ = ("_tree", "_version", "_last_end", "_ends")

    def __init__(self, tree: VmaTree) -> None:
        self._tree = tree
        # Nothing returned yet: -1 is no address, so the first find searches.
        self._version = -1
        self._last_end = -1
        self._ends: Iterator[int] = iter(())

    def find(self, addr: int) -> tuple[int, int, Vma] | None:
        """The first range with ``end > addr``, as :meth:`VmaTree.find` answers it.

        O(1) amortized when ``addr`` is the end of the range this cursor
        returned last and the tree has not changed since: it steps to the
        next range.  Otherwise O(log n): it searches.
        """
        tree = self._tree
        if addr != self._last_end or self._version != tree._version:
            self._ends = tree._by_end.irange(minimum=addr, inclusive=(False, True))
            self._version = tree._version
        end = next(self._ends, None)
        if end is None:
            self._last_end = -1
            return None
        self._last_end = end
        start, vma = tree._by_end[end]
        return start, end, vma

    def run(self, addr: int, count: int) -> list[Vma]:
        """The VMAs of the next ``count`` ranges (fewer at the top), as ``count`` successive finds from ``addr`` on.

        The first is the range :meth:`find` would return for ``addr``; the
        cursor ends on the last one returned, as if each had been found in
        turn.  A batch for a reader that then steps through them with no
        yield between: it costs what one :meth:`find` does plus O(count),
        with no Python-level work per range.
        """
        tree = self._tree
        by_end = tree._by_end
        if addr != self._last_end or self._version != tree._version:
            self._ends = by_end.irange(minimum=addr, inclusive=(False, True))
            self._version = tree._version
        ends = list(islice(self._ends, count))
        self._last_end = ends[-1] if ends else -1
        return list(map(_VMA_OF_ENTRY, map(by_end.__getitem__, ends)))


#: The Vma of a tree entry ``(start, vma)``.
_VMA_OF_ENTRY = itemgetter(1)
