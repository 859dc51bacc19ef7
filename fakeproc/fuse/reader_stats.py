"""What the daemon's readers saw, per process: the reader half of ``--stats-file``.

The model counts only what writers do (:class:`~fakeproc.mm.mm.MmStats`); each
open maps or smaps file gets a :class:`PageCounter` that turns its page events
into these counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from ..mm.mm import MemoryManager
from ..process import Process
from ..pagecache import PageCacheStats


@dataclass
class ReaderCounters:
    """One process's reader counters; the field order is the stats file's key order."""

    #: Pages read during which some writer step ran (sub-page interleaving).
    pages_with_writer_inside: int = 0
    pages_read: int = 0
    #: How the fills of every open maps and smaps file's page cache went.
    page_cache: PageCacheStats = field(default_factory=PageCacheStats)

    def record(self) -> dict[str, int]:
        """The counters as the stats file holds them, flat and in order.  O(1)."""
        cache = self.page_cache
        return {
            "pages_with_writer_inside": self.pages_with_writer_inside,
            "pages_read": self.pages_read,
            "page_cache_hits": cache.hits,
            "page_cache_misses": cache.misses,
            "page_cache_stale": cache.stale,
        }


class PageCounter:
    """A page observer for one open file, adding its pages to its process's counters."""

    def __init__(self, mm: MemoryManager, counters: ReaderCounters) -> None:
        self.mm = mm
        self.counters = counters
        self._writer_steps_at_start = 0

    def page_started(self) -> None:
        self._writer_steps_at_start = self.mm.stats.writer_steps

    def page_stopped(self) -> None:
        self.counters.pages_read += 1
        if self.mm.stats.writer_steps != self._writer_steps_at_start:
            self.counters.pages_with_writer_inside += 1


class ReaderStats:
    """The counters of every process that has an address space alive.

    Keyed weakly by address space, so a killed process's counters go with it
    once its last open file is released.
    """

    def __init__(self) -> None:
        self._counters: WeakKeyDictionary[MemoryManager, ReaderCounters] = WeakKeyDictionary()

    def counters(self, process: Process) -> ReaderCounters:
        """The process's counters, zero until one of its files is read.  O(1)."""
        counters = self._counters.get(process.mm)
        if counters is None:
            counters = self._counters[process.mm] = ReaderCounters()
        return counters

    def page_counter(self, process: Process) -> PageCounter:
        """A fresh observer for one open file of ``process``.  O(1)."""
        return PageCounter(process.mm, self.counters(process))
