"""SeqFile: the kernel's seq_file read loop (``seq_read_iter`` and ``traverse``).

A read renders records into a page-sized buffer under the iterator's locks,
stops the iterator (dropping its locks), and only then copies out.  The
iterator position (``index``) belongs to the :class:`SeqIterator`; for maps it
is an address.  A read at an offset other than where the last one ended
re-renders from the first record (``traverse``), which is how ``pread`` and
``lseek`` behave on /proc files.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any, Generic, Protocol, TypeVar

import trio

from .errors import SyscallError
from .pagecache import CachedPage, PageCache, PageCacheStats, StepLog

PAGE_SIZE = 4096

Record = TypeVar("Record")


class SeqIterator(Protocol[Record]):
    """The iterator of one open file (``struct seq_operations``)."""

    async def start(self, index: int) -> tuple[Record | None, int]:
        """Take locks and return the record at ``index`` (None at the end) and the new index."""
        ...

    async def next(self, record: Record, index: int) -> tuple[Record | None, int]:
        """The record after ``record``; the returned index must move on."""
        ...

    def show(self, record: Record) -> bytes:
        """Render one record; empty means skip it."""
        ...

    def stop(self) -> None:
        """Drop the locks ``start`` took.  Runs before any copy to the reader."""
        ...


class NowaitIterator(SeqIterator[Record], Protocol[Record]):
    """An iterator that can often step without awaiting: the reader's fast path.

    ``steps_nowait(record, index)`` yields what successive ``next`` calls
    would return, counters included, for as long as it can vouch that none
    of them would yield or wait, and stops at the first it cannot, having
    done nothing for it.  Its indexes always move on.  The caller closes it
    before awaiting anything.
    """

    def steps_nowait(self, record: Record, index: int) -> Generator[tuple[Record | None, int], None, None]: ...


class RunIterator(NowaitIterator[Record], Protocol[Record]):
    """A :class:`NowaitIterator` that can also take a run of records into a page in one call.

    ``take_nowait(record, index, length, wanted, limit, recorded)`` does what
    taking the steps of ``steps_nowait(record, index)`` into a page of
    ``length`` bytes would (the same records shown, points passed, locks
    held), in place of it; it may stop sooner, and the steps it leaves are
    awaited.  It returns the texts to add, the last record stepped to and
    its index, whether the page is done, and the size of a last record
    shown that did not fit (0 if none).  Given a ``recorded`` log, it adds
    the steps it took to it (:meth:`StepLog.add_run`), as a fill recorded
    for the page cache does.
    """

    def take_nowait(
        self, record: Record, index: int, length: int, wanted: int, limit: int, recorded: StepLog[Record] | None
    ) -> tuple[list[bytes], Record | None, int, bool, int]: ...


class ReplayIterator(NowaitIterator[Record], Protocol[Record]):
    """An iterator whose walks a page cache may replay instead of repeating.

    ``content_version()`` names what the iterator would step to and show:
    it changes whenever that may change, and is None while it cannot tell
    (a change is under way).  ``replay_nowait`` takes recorded steps instead
    of looking them up: exactly the steps ``steps_nowait`` would take from
    ``position`` at this moment, with the same effects (points passed, the
    position, the lock held, the bytes counted as shown), and returns the
    number of steps taken in all.  Each step is the record and index it
    stepped to and the bytes shown before it; ``shown_at_end`` is the bytes
    shown after the last.  It is asked only while the version equals the
    one the steps were recorded at.
    """

    def content_version(self) -> int | None: ...

    def replay_nowait(self, steps: StepLog[Record], shown_at_end: int, taken: int, position: int) -> int: ...


class PageObserver(Protocol):
    """Told when an iterator takes its locks for a page and when it drops them.

    A page is one ``start`` .. ``stop`` of an iterator that found something to
    lock: what one read renders, or a traverse skips, under one hold of the
    locks.  Both calls come with no checkpoint between them and the lock
    change, so an observer sees the model as the page saw it.  Iterators that
    offer this take one observer, per open file; it must not await or raise.
    """

    def page_started(self) -> None:
        """The locks are held; records are about to be rendered."""
        ...

    def page_stopped(self) -> None:
        """The locks were just dropped; nothing has been copied to the reader yet."""
        ...


StepsNowait = Callable[[Record, int], Generator[tuple[Record | None, int], None, None]]
TakeNowait = Callable[
    [Record, int, int, int, int, StepLog[Record] | None], tuple[list[bytes], Record | None, int, bool, int]
]

class _Page:
    """The records one fill gathers: it stops at the first record not wanted or that does not fit.

    ``steps``, when the fill is recorded for the page cache, gets every
    step taken after the first record; ``overflow`` is the size of a last
    record shown that did not fit.
    """

    __slots__ = ("parts", "length", "wanted", "limit", "steps", "overflow")

    def __init__(self, first: bytes, wanted: int, limit: int) -> None:
        self.parts = [first]
        self.length = len(first)
        self.wanted = wanted
        self.limit = limit
        self.steps: StepLog[Any] | None = None
        self.overflow = 0


class SeqFile(Generic[Record]):
    """Per-open-file state: ``buf``/``start``, ``index`` and ``read_pos``.

    Reads on one file never overlap: they take the file's mutex.  An
    iterator with ``steps_nowait`` (a :class:`NowaitIterator`) is stepped
    without awaiting wherever it allows, a run at a time if it also has
    ``take_nowait`` (a :class:`RunIterator`); ``fast=False`` always awaits
    ``next``, which tests and benchmarks use to check that both paths give
    the same bytes and counters.

    With ``cache`` (and the fast path), an iterator that can replay its
    walks (a :class:`ReplayIterator`) gets a page cache: the first
    :data:`~fakeproc.pagecache.CACHED_PAGES` pages this file rendered at the current content
    version, dropped together when it moves on.  A later fill that starts on the
    same record at the same version takes the recorded steps instead of
    looking them up and showing them, but only where the fast path would
    step without awaiting; every other step is awaited as always and then
    checked against the record.  So the bytes, positions, locks and every
    preemption point are those of the uncached path; only the work goes.
    The pages are kept by a :class:`~fakeproc.pagecache.PageCache`;
    ``cache_stats`` counts this file's fills, and ``cache_totals``, if
    given, the same again (a process's totals, say).
    """

    def __init__(
        self,
        iterator: SeqIterator[Record],
        *,
        fast: bool = True,
        cache: bool = True,
        cache_totals: PageCacheStats | None = None,
    ) -> None:
        self.iterator = iterator
        self.buffer_size = PAGE_SIZE
        self.pending = b""
        self.index = 0
        self.read_pos = 0
        self._mutex = trio.Lock()
        self._steps_nowait: StepsNowait[Record] | None = getattr(iterator, "steps_nowait", None) if fast else None
        self._take_run: TakeNowait[Record] | None = getattr(iterator, "take_nowait", None) if fast else None
        replays = cache and self._steps_nowait is not None and hasattr(iterator, "replay_nowait")
        self._replayer: ReplayIterator[Record] | None = iterator if replays else None  # type: ignore[assignment]
        self.page_cache: PageCache[Record] = PageCache(cache_totals)

    def __repr__(self) -> str:
        return f"<SeqFile index={self.index:#x} read_pos={self.read_pos} pending={len(self.pending)} {self.page_cache!r}>"

    @property
    def cache_stats(self) -> PageCacheStats:
        """How this file's fills went through its page cache (all zero without one)."""
        return self.page_cache.stats

    def _reset(self) -> None:
        self.index = 0
        self.pending = b""

    async def read(self, offset: int, size: int) -> bytes:
        """One ``read(2)`` of ``size`` bytes at ``offset``.

        Returns at most one buffer of whole records (under 4096 bytes: as
        in the kernel, a buffer filled to the last byte counts as overflowed,
        and a single larger record doubles the buffer), or the rest of a record left over by a
        shorter read.  O(records in the page) plus O(log n) to find the first.
        """
        mutex = self._mutex
        try:
            # A free mutex is taken without a trip through the scheduler.
            mutex.acquire_nowait()
        except trio.WouldBlock:
            await mutex.acquire()
        try:
            return self._advance(await self._read(offset, size))
        except BaseException:
            # Rendered records may be lost with the failure while the
            # position moved on: start over, so the next read traverses.
            self._reset()
            self.read_pos = 0
            raise
        finally:
            mutex.release()

    async def _read(self, offset: int, size: int) -> bytes:
        if offset == 0:
            self._reset()
        if offset != self.read_pos:
            await self._traverse(offset)
            self.read_pos = offset
        copied = self._take_pending(size)
        if self.pending:
            return copied
        # Like the kernel, fill even when the leftovers satisfied the read:
        # the next record is then rendered now and kept for the next read.
        try:
            return copied + await self._fill(size - len(copied))
        except SyscallError:
            # seq_read_iter reports the iterator's error (ESRCH once the process
            # is gone) only when it had nothing buffered to hand out first.
            if not copied:
                raise
            return copied

    def _take_pending(self, size: int) -> bytes:
        taken, self.pending = self.pending[:size], self.pending[size:]
        return taken

    def _advance(self, data: bytes) -> bytes:
        self.read_pos += len(data)
        return data

    async def _first_record(self) -> tuple[Record | None, bytes]:
        """Start, skipping empty records and growing the buffer for a huge one."""
        iterator = self.iterator
        record, self.index = await iterator.start(self.index)
        while record is not None:
            text = iterator.show(record)
            if not text:
                record, self.index = await self._next(record)
                continue
            if len(text) < self.buffer_size:
                return record, text
            iterator.stop()
            self.buffer_size *= 2
            record, self.index = await iterator.start(self.index)
        return None, b""

    async def _next(self, record: Record) -> tuple[Record | None, int]:
        before = self.index
        record_next, index = await self.iterator.next(record, before)
        if index == before:
            # A next() that does not move would loop forever; the kernel nudges it.
            index += 1
        return record_next, index

    async def _fill(self, wanted: int) -> bytes:
        iterator = self.iterator
        try:
            record, first = await self._first_record()
            if record is None:
                return b""
            page = _Page(first, wanted, self.buffer_size)
            if self._replayer is None:
                await self._walk(record, page)
            else:
                await self._fill_through_cache(self._replayer, record, page)
        finally:
            iterator.stop()
        data = b"".join(page.parts)
        self.pending = data[wanted:]
        return data[:wanted]

    async def _fill_through_cache(self, replayer: ReplayIterator[Record], first: Record, page: _Page) -> None:
        """Fill ``page`` from a kept page that is still current, or walk it and keep it."""
        version = replayer.content_version()
        key = (self.index, page.wanted, page.limit)
        cache = self.page_cache
        cached = cache.lookup(key, first, version)
        if cached is not None and version is not None:
            record, done = await self._replay(replayer, first, page, cached, version)
            if not done:
                await self._walk(record, page)
            return
        # A page the cache could not keep is not recorded, and costs what an uncached one does.
        if version is not None and cache.has_room():
            page.steps = StepLog()
        await self._walk(first, page)
        # Kept only if no writer came in during the page: then every step saw this version.
        # The file's mutex kept other fills out since there was room, and the
        # fill joins the same parts for the reader and never changes them after.
        if page.steps is not None and replayer.content_version() == version:
            cache.keep(key, first, page.steps, page.length + page.overflow, page.parts)

    async def _walk(self, record: Record | None, page: _Page) -> None:
        """Take records until the page is done: without awaiting wherever the iterator allows."""
        while True:
            record, done = self._take_nowait(record, page)
            if done:
                return
            record, done = self._take(page, (await self._next(record),))
            if done:
                return

    async def _replay(
        self, replayer: ReplayIterator[Record], record: Record | None, page: _Page, cached: CachedPage[Record], version: int
    ) -> tuple[Record | None, bool]:
        """Fill ``page`` from ``cached``, stepping as the fast path would; return the last record stepped to and whether the page is done.

        The replayer takes recorded steps where ``steps_nowait`` would take
        them; the steps it leaves are awaited as always.  Only such a step
        can let a writer in, so it is checked afterwards against the
        version and the record.  From a step that no longer matches, the
        caller walks on as the uncached path does: nothing was done that
        it would not have done.  O(steps awaited) plus O(log n) per run of
        replayed steps.
        """
        steps, data = cached.steps, cached.data()
        records, indices, shown = steps.columns()
        last = len(records)
        taken = 0
        while True:
            before = taken
            taken = replayer.replay_nowait(steps, cached.shown_at_end, taken, self.index)
            if taken > before:
                record, self.index = records[taken - 1], indices[taken - 1]
                # The last step's record never fits: the page ends with the bytes shown before it.
                end = shown[min(taken, last - 1)]
                page.parts.append(data[page.length : end])
                page.length = end
                if taken == last:
                    self.page_cache.count("hits")
                    return record, True
            stepped = await self._next(record)  # type: ignore[arg-type]
            record, done = self._take(page, (stepped,))
            expected_record, expected_index = records[taken], indices[taken]
            taken += 1
            if replayer.content_version() != version or stepped[0] is not expected_record or stepped[1] != expected_index:
                self.page_cache.count("stale")
                return record, done
            if done:
                self.page_cache.count("hits")
                return record, True

    def _take_nowait(self, record: Record, page: _Page) -> tuple[Record | None, bool]:
        """Step and take records for as long as the iterator can step without awaiting."""
        if self._take_run is not None:
            texts, record, self.index, done, page.overflow = self._take_run(
                record, self.index, page.length, page.wanted, page.limit, page.steps
            )
            page.parts += texts
            page.length += sum(map(len, texts))
            return record, done
        if self._steps_nowait is None:
            return record, False
        steps = self._steps_nowait(record, self.index)
        try:
            return self._take(page, steps, record)
        finally:
            steps.close()

    def _take(
        self, page: _Page, steps: Iterable[tuple[Record | None, int]], record: Record | None = None
    ) -> tuple[Record | None, bool]:
        """Add the records of ``steps`` to the page; return the last one stepped to and whether the page is done.

        The hot loop of a read: plain local variables, no call but ``show``.
        """
        show = self.iterator.show
        parts, length, wanted, limit = page.parts, page.length, page.wanted, page.limit
        recorded = page.steps
        done = False
        for record, self.index in steps:
            if recorded is not None:
                recorded.add(record, self.index, length)
            if record is None or length >= wanted:
                done = True
                break
            text = show(record)
            if length + len(text) >= limit:
                page.overflow = len(text)
                done = True
                break
            parts.append(text)
            length += len(text)
        page.length = length
        return record, done

    async def _traverse(self, offset: int) -> None:
        """Render from the first record up to ``offset``; keep the record that crosses it."""
        self._reset()
        if offset == 0:
            return
        iterator = self.iterator
        position = 0
        try:
            record, self.index = await iterator.start(self.index)
            while record is not None:
                text = iterator.show(record)
                record, self.index = await self._next(record)
                if position + len(text) > offset:
                    self.pending = text[offset - position :]
                    return
                position += len(text)
                if position == offset:
                    return
        finally:
            iterator.stop()
