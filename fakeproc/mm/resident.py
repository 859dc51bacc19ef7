"""Faulted-in memory as disjoint address ranges, so that its cost follows the ranges, never the pages."""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedDict

from .sortedkeys import key_above, key_below, keys_above


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

    def _first_reaching(self, address: int) -> int | None:
        """Start of the first range ending at or above ``address``, None if none does.  O(log n)."""
        ends = self._ends
        low = key_below(ends, address + 1)
        if low is not None and ends[low] >= address:
            return low
        return key_above(ends, address)

    def add(self, start: int, end: int) -> None:
        """Make ``[start, end)`` resident, merging it with every range it overlaps or touches.  O((k + 1) log n), k ranges met."""
        if start >= end:
            return
        ends = self._ends
        low = self._first_reaching(start)
        while low is not None and low <= end:
            high = ends.pop(low)
            self.total -= high - low
            start, end = min(start, low), max(end, high)
            low = key_above(ends, low)
        ends[start] = end
        self.total += end - start

    def remove(self, start: int, end: int) -> None:
        """Make ``[start, end)`` not resident, trimming or splitting the ranges it covers.  O((k + 1) log n), k ranges met."""
        if start >= end:
            return
        ends = self._ends
        low = self._first_reaching(start + 1)
        while low is not None and low < end:
            high = ends[low]
            self.total -= min(high, end) - max(low, start)
            # A range that starts below the hole keeps its key and only ends sooner.
            if low < start:
                ends[low] = start
            else:
                del ends[low]
            if high > end:
                ends[end] = high
                return
            low = key_above(ends, low)

    def overlapping(self, start: int, end: int) -> list[tuple[int, int]]:
        """The resident parts of ``[start, end)``, clipped to it, in address order.  O(log n + k)."""
        parts: list[tuple[int, int]] = []
        if start >= end:
            return parts
        first = self._first_reaching(start + 1)
        if first is None:
            return parts
        ends = self._ends
        for low in keys_above(ends, first - 1):
            if low >= end:
                break
            parts.append((max(low, start), min(ends[low], end)))
        return parts

    def count(self, start: int, end: int) -> int:
        """Resident bytes in ``[start, end)``.  O(log n + k), k the ranges inside it."""
        return sum(high - low for low, high in self.overlapping(start, end))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """Every range, in address order.  O(1) per range."""
        return iter(self._ends.items())
