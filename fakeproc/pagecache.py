"""The page cache of one open seq_file: pages kept at one content version, bounded and counted.

What is kept is a fill as it happened: its first record, every later step
(the record and index it stepped to, the bytes shown before it) and the
page's bytes.  :class:`fakeproc.seqfile.SeqFile` decides when a kept page
may be replayed and replays it; this module only keeps pages, forgets them
all when the content version moves on, and counts how fills went.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Record = TypeVar("Record")

#: A kept page's key: the index after its first record, the bytes the read wanted, the buffer size.
PageKey = tuple[int, int, int]


#: Most pages one open file keeps, all rendered at one content version:
#: about 4 KiB of bytes plus a few list slots and an int per record
#: each, so a few hundred KiB at most per open file.
CACHED_PAGES = 32


@dataclass
class PageCacheStats:
    """How the fills of a page cache went: served from it, not found in it, found but out of date."""

    hits: int = 0
    misses: int = 0
    #: Found, but the content had changed since it was rendered (at the start or half-way).
    stale: int = 0


class StepLog(Generic[Record]):
    """The steps of a recorded fill: the record and index each stepped to, and the bytes shown before it.

    A step taken alone is added as it is; a run of steps taken at once is
    kept as the iterator's own lists and spread into the columns only when
    a replay first asks for them, so a fill that is never replayed pays one
    append per run, whatever its length.
    """

    __slots__ = ("_records", "_indices", "_shown", "_runs")

    def __init__(self) -> None:
        self._records: list[Record | None] = []
        self._indices: list[int] = []
        self._shown: list[int] = []
        #: Runs not yet spread: the steps added alone before each, its records, the bytes shown before each, how many, their index.
        self._runs: list[tuple[int, Sequence[Record], Sequence[int], int, Callable[[Record], int]]] = []

    def add(self, record: Record | None, index: int, shown: int) -> None:
        """Add one step.  O(1) amortized."""
        self._records.append(record)
        self._indices.append(index)
        self._shown.append(shown)

    def add_run(self, records: Sequence[Record], shown: Sequence[int], count: int, index_of: Callable[[Record], int]) -> None:
        """Add steps to the first ``count`` of ``records``, ``shown[j]`` bytes shown before the j-th, each at ``index_of(record)``.

        The sequences are kept, not copied: the caller must not change them.  O(1).
        """
        self._runs.append((len(self._records), records, shown, count, index_of))

    def columns(self) -> tuple[list[Record | None], list[int], list[int]]:
        """The records, indexes and bytes shown of every step in order.  O(steps) the first time, O(1) after."""
        if self._runs:
            records: list[Record | None] = []
            indices: list[int] = []
            shown: list[int] = []
            spread = 0
            for alone_before, run_records, run_shown, count, index_of in self._runs:
                records += self._records[spread:alone_before]
                indices += self._indices[spread:alone_before]
                shown += self._shown[spread:alone_before]
                stepped = run_records[:count]
                records += stepped
                indices += map(index_of, stepped)
                shown += run_shown[:count]
                spread = alone_before
            records += self._records[spread:]
            indices += self._indices[spread:]
            shown += self._shown[spread:]
            self._records, self._indices, self._shown, self._runs = records, indices, shown, []
        return self._records, self._indices, self._shown


class CachedPage(Generic[Record]):
    """One page as a fill rendered it: its first record, every later step, and the bytes.

    ``shown_at_end`` is how many bytes had been shown after the last step;
    the fill's parts make the whole page, before a short read split it.  Both the
    steps and the bytes are put together only when the page is first
    replayed: a page that never is costs its fill nothing more.
    """

    __slots__ = ("first", "steps", "shown_at_end", "_parts")

    def __init__(self, first: Record, steps: StepLog[Record], shown_at_end: int, parts: list[bytes]) -> None:
        self.first = first
        self.steps = steps
        self.shown_at_end = shown_at_end
        self._parts = parts

    def data(self) -> bytes:
        """The whole page.  O(page) the first time, O(1) after."""
        if len(self._parts) != 1:
            self._parts = [b"".join(self._parts)]
        return self._parts[0]


class PageCache(Generic[Record]):
    """At most :data:`CACHED_PAGES` pages, all rendered at one content version.

    Full, it keeps the pages it has rather than evicting: a reader going
    through more pages than it holds, again and again, then still finds the
    first ones, where evicting the oldest would leave it none.  ``stats``
    counts this file's fills, and ``totals``, if given, the same again (a
    process's totals, say).
    """

    __slots__ = ("stats", "_totals", "_pages", "_version")

    def __init__(self, totals: PageCacheStats | None = None) -> None:
        self.stats = PageCacheStats()
        self._totals = totals
        self._pages: dict[PageKey, CachedPage[Record]] = {}
        self._version: int | None = None

    def __len__(self) -> int:
        return len(self._pages)

    def __repr__(self) -> str:
        stats = self.stats
        return f"<PageCache {len(self._pages)} page(s) hits={stats.hits} misses={stats.misses} stale={stats.stale}>"

    def items(self) -> Iterator[tuple[PageKey, CachedPage[Record]]]:
        """The kept pages by key.  O(1) to start, O(1) each."""
        return iter(self._pages.items())

    def count(self, outcome: str) -> None:
        """Count one fill as ``"hits"``, ``"misses"`` or ``"stale"``.  O(1)."""
        for stats in (self.stats, self._totals):
            if stats is not None:
                setattr(stats, outcome, getattr(stats, outcome) + 1)

    def lookup(self, key: PageKey, first: Record, version: int | None) -> CachedPage[Record] | None:
        """The kept page for ``key`` that starts with ``first`` and was rendered at ``version``, if any.  O(1).

        A miss is counted here, and so is a page found out of date; a
        version other than the kept pages' forgets them all, since versions
        only move on and nothing kept can be current again.
        """
        if version != self._version:
            self.count("stale" if key in self._pages else "misses")
            self._pages.clear()
            self._version = version
            return None
        cached = self._pages.get(key)
        if cached is None or cached.first is not first:
            self.count("misses")
            return None
        return cached

    def check(self) -> None:
        """Raise AssertionError if an invariant does not hold.  O(pages)."""
        assert len(self._pages) <= CACHED_PAGES, f"{len(self._pages)} pages kept, more than {CACHED_PAGES}"
        assert self._version is not None or not self._pages, "pages kept while the version was unknown"
        for stats in (self.stats, self._totals):
            if stats is not None:
                assert min(stats.hits, stats.misses, stats.stale) >= 0, stats

    def has_room(self) -> bool:
        """Whether a page rendered now could be kept.  O(1)."""
        return len(self._pages) < CACHED_PAGES

    def keep(self, key: PageKey, first: Record, steps: StepLog[Record], shown_at_end: int, parts: list[bytes]) -> None:
        """Keep a page rendered at the current version; ``parts`` must not change after.  O(1)."""
        if not self.has_room():
            raise RuntimeError(f"the page cache is full ({CACHED_PAGES} pages)")
        self._pages[key] = CachedPage(first, steps, shown_at_end, parts)
