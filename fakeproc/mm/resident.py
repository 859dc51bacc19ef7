"""Faulted-in memory as disjoint address ranges, so that its cost follows the ranges, never the pages."""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedDict


class ResidentRanges:
    """Disjoint, non-adjacent ``[start, end)`` ranges of resident bytes, with their total.

    Adjacent or overlapping ranges are merged as they are added, so the
    number of ranges is at most the number of separate runs of resident
    pages, however many pages each run holds.
    """

    def __init__(self) -> None:
        self._ends: SortedDict[int, int] = SortedDict()
        #: Bytes resident in all ranges.
        self.total = 0

    def __len__(self) -> int:
        """Number of ranges.  O(1)."""
        return len(self._ends)

    def _first_reaching(self, address: int) -> int:
        """Index of the first range ending at or above ``address``.  O(log n)."""
        index = self._ends.bisect_right(address)
        if index and self._ends.peekitem(index - 1)[1] >= address:
            index -= 1
        return index

    def add(self, start: int, end: int) -> None:
        """Make ``[start, end)`` resident, merging it with every range it overlaps or touches.  O(log n + k)."""
        if start >= end:
            return
        ends = self._ends
        index = self._first_reaching(start)
        while index < len(ends):
            low, high = ends.peekitem(index)
            if low > end:
                break
            start, end = min(start, low), max(end, high)
            del ends[low]
            self.total -= high - low
        ends[start] = end
        self.total += end - start

    def remove(self, start: int, end: int) -> None:
        """Make ``[start, end)`` not resident, trimming or splitting the ranges it covers.  O(log n + k)."""
        if start >= end:
            return
        for low, high in self.overlapping(start, end):
            self.total -= high - low
            whole_low, whole_high = self._containing(low)
            del self._ends[whole_low]
            if whole_low < start:
                self._ends[whole_low] = start
            if whole_high > end:
                self._ends[end] = whole_high

    def _containing(self, address: int) -> tuple[int, int]:
        return self._ends.peekitem(self._ends.bisect_right(address) - 1)

    def overlapping(self, start: int, end: int) -> list[tuple[int, int]]:
        """The resident parts of ``[start, end)``, clipped to it, in address order.  O(log n + k)."""
        ends = self._ends
        parts: list[tuple[int, int]] = []
        if start >= end:
            return parts
        for index in range(self._first_reaching(start + 1), len(ends)):
            low, high = ends.peekitem(index)
            if low >= end:
                break
            parts.append((max(low, start), min(high, end)))
        return parts

    def count(self, start: int, end: int) -> int:
        """Resident bytes in ``[start, end)``.  O(log n + k), k the ranges inside it."""
        return sum(high - low for low, high in self.overlapping(start, end))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """Every range, in address order.  O(1) per range."""
        return iter(self._ends.items())
