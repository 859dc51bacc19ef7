"""The read path's one event interface: a page observer hears each page's start and stop.

The tearing oracle and the daemon's reader statistics both observe through it.
"""

from __future__ import annotations

from fakeproc.fuse.reader_stats import ReaderStats
from fakeproc.fuse.server import collect_stats
from fakeproc.mm.walk import LockMode
from fakeproc.population import many_layout
from fakeproc.process import Process, ProcessTable
from fakeproc.procfs.maps import MapsIterator
from fakeproc.procfs.smaps import SmapsIterator
from fakeproc.seqfile import PAGE_SIZE, SeqFile


class LockWitness:
    """Records each event with whether ``mmap_lock`` was held for read at that moment."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.events: list[tuple[str, bool]] = []

    def page_started(self) -> None:
        self.events.append(("started", self.process.mm.mmap_lock.read_locked))

    def page_stopped(self) -> None:
        self.events.append(("stopped", self.process.mm.mmap_lock.read_locked))


def spawn_many(count: int = 300) -> Process:
    process = ProcessTable().spawn("observed")
    many_layout(process, count)
    return process


async def read_pages(seq: SeqFile[object], size: int = PAGE_SIZE) -> list[bytes]:
    pages, offset = [], 0
    while page := await seq.read(offset, size):
        pages.append(page)
        offset += len(page)
    return pages


async def test_observer_sees_each_page_start_locked_and_stop_unlocked() -> None:
    process = spawn_many()
    witness = LockWitness(process)
    pages = await read_pages(SeqFile(MapsIterator(process, LockMode.MMAP, observer=witness)))
    assert len(pages) > 1
    # The read at EOF takes no lock, so it is no page.
    assert witness.events == [("started", True), ("stopped", False)] * len(pages)


async def test_a_traverse_is_one_page_too() -> None:
    process = spawn_many()
    witness = LockWitness(process)
    seq = SeqFile(MapsIterator(process, LockMode.MMAP, observer=witness))
    # Reading at an offset the file is not at re-renders up to it under one lock hold, then fills a page.
    assert await seq.read(PAGE_SIZE * 2, 100)
    assert [event for event, _ in witness.events] == ["started", "stopped", "started", "stopped"]


async def test_smaps_pages_are_observed() -> None:
    process = spawn_many(100)
    witness = LockWitness(process)
    pages = await read_pages(SeqFile(SmapsIterator(process, observer=witness)))
    assert witness.events == [("started", True), ("stopped", False)] * len(pages)


async def test_page_counter_counts_pages_and_writer_steps_inside_them() -> None:
    process = spawn_many()
    stats = ReaderStats()
    pages = await read_pages(SeqFile(MapsIterator(process, observer=stats.page_counter(process))))
    assert (stats.counters(process).pages_with_writer_inside, stats.counters(process).pages_read) == (0, len(pages))

    counter = stats.page_counter(process)
    counter.page_started()
    await process.mm.writer_preempt()
    counter.page_stopped()
    counter.page_started()
    counter.page_stopped()
    assert (stats.counters(process).pages_with_writer_inside, stats.counters(process).pages_read) == (1, len(pages) + 2)


async def test_each_process_has_its_own_counters() -> None:
    table = ProcessTable()
    first, second = table.spawn("first"), table.spawn("second")
    many_layout(first, 300)
    stats = ReaderStats()
    pages = await read_pages(SeqFile(MapsIterator(first, observer=stats.page_counter(first))))
    assert stats.counters(first).pages_read == len(pages) > 1
    assert stats.counters(second).pages_read == 0


async def test_stats_file_keeps_its_keys_and_their_order() -> None:
    table = ProcessTable()
    process = table.spawn("observed")
    many_layout(process, 300)
    stats = ReaderStats()
    pages = await read_pages(SeqFile(MapsIterator(process, observer=stats.page_counter(process))))
    processes = collect_stats(table, [], stats)["processes"]
    assert isinstance(processes, dict)
    record = processes[str(process.pid)]
    assert list(record) == [
        "comm", "vmas", "commits", "writer_steps", "pages_with_writer_inside", "pages_read",
        "page_cache_hits", "page_cache_misses", "page_cache_stale",
    ]
    assert record["vmas"] == 300 and record["pages_read"] == len(pages) > 1
