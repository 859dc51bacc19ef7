"""SeqFile: the kernel's seq_file read rules, over a fake SeqIterator and over maps.

Properties (docs/design.md, "The read path"):
- reads of any sizes, each at the offset where the last one ended, starting
  at 0, concatenate to the whole content;
- a read of at least 4096 bytes that starts on a record boundary returns
  whole records, as many as fit in the buffer (4096 bytes, unless a record
  bigger than that made it grow), and never an empty result before EOF;
- a read at any other offset (pread, lseek) continues correctly:
  reading on from there gives content[off:off+n];
- offset 0 starts over, also after the content changed;
- stop() runs before any read returns: no lock is held by a finished read.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate

import pytest
import trio
from hypothesis import HealthCheck, given, settings, strategies as st

from fakeproc.mm.vma import PAGE_SIZE as MM_PAGE_SIZE, Vma, VmFlags
from fakeproc.population import demo_layout, many_layout
from fakeproc.process import Process, ProcessTable
from fakeproc.procfs.maps import GATE, SHORTEST_LINE, MapsIterator, format_maps_line, gate_vma
from fakeproc.mm.walk import LockMode, MmapLockWalker
from fakeproc.sched import AlwaysPolicy, NeverPolicy, Policy, Preempter, RandomPolicy, VirtualSlicePolicy
from fakeproc.seqfile import PAGE_SIZE, SeqFile


class ListIterator:
    """SeqIterator over a list of byte strings; index = position in the list.

    It checks the protocol: show/next only between start and stop, stop
    exactly once per start.
    """

    def __init__(self, records: list[bytes]) -> None:
        self.records = records
        self.active = False
        self.starts = 0
        self.shows = 0

    async def start(self, index: int) -> tuple[int | None, int]:
        assert not self.active, "start() while a previous start() was not stopped"
        self.active = True
        self.starts += 1
        return (index if index < len(self.records) else None), index

    async def next(self, record: int, index: int) -> tuple[int | None, int]:
        assert self.active, "next() outside start()/stop()"
        assert record == index
        index += 1
        return (index if index < len(self.records) else None), index

    def show(self, record: int) -> bytes:
        assert self.active, "show() outside start()/stop()"
        self.shows += 1
        return self.records[record]

    def stop(self) -> None:
        assert self.active, "stop() without start()"
        self.active = False


def boundaries(records: list[bytes]) -> set[int]:
    return {0, *accumulate(len(r) for r in records)}


def buffer_for(records: list[bytes]) -> int:
    """The buffer the kernel ends up with: doubled until the largest record fits with a byte to spare."""
    size = PAGE_SIZE
    largest = max((len(r) for r in records), default=0)
    while largest >= size:
        size *= 2
    return size


def check_page(records: list[bytes], offset: int, data: bytes, size: int, limit: int, pending: bytes) -> None:
    """A read of >= 4096 bytes that started on a record boundary with nothing buffered.

    ``limit`` is the file's buffer size after the read, ``pending`` what it
    kept for the next read.
    """
    content = b"".join(records)
    ends = boundaries(records)
    assert offset in ends
    assert size >= PAGE_SIZE
    if offset < len(content):
        assert data, "empty read before EOF"
    if not any(len(r) >= PAGE_SIZE for r in records):
        assert limit == PAGE_SIZE, "the buffer grew although no record needed it"
    # A buffer filled to its last byte counts as overflowed (seq_has_overflowed).
    assert len(data) < limit
    if pending:
        # The page was bigger than the request: only a grown buffer allows that.
        assert limit > PAGE_SIZE and len(data) == size < limit
        assert offset + len(data) + len(pending) in ends
        return
    assert offset + len(data) in ends, "a big read ended inside a record"
    if len(data) > PAGE_SIZE:
        assert limit > PAGE_SIZE
    if len(data) >= size:
        return  # the request is satisfied (only possible once the buffer grew past 4096)
    # As many records as fit: the next non-empty record would not have.
    position = 0
    for record in records:
        if position >= offset + len(data) and record:
            assert len(data) + len(record) >= limit, (
                f"page of {len(data)} bytes stopped although the next {len(record)}-byte record fits"
            )
            break
        position += len(record)


async def read_all(seq: SeqFile, sizes: list[int], records: list[bytes] | None = None) -> bytes:
    """read() at the returned offsets with the given sizes (cycled) until EOF.

    With ``records``, every read of >= 4096 bytes that starts on a record
    boundary with nothing buffered is checked with :func:`check_page`.
    """
    out = bytearray()
    offset = 0
    turn = 0
    while True:
        size = sizes[turn % len(sizes)]
        turn += 1
        fresh = offset == 0 or not seq.pending
        data = await seq.read(offset, size)
        assert len(data) <= size
        if records is not None and fresh and size >= PAGE_SIZE and offset in boundaries(records):
            check_page(records, offset, data, size, seq.buffer_size, seq.pending)
        if not data:
            # EOF only: a read never returns empty while content remains.
            return bytes(out)
        out += data
        offset += len(data)
        assert seq.read_pos == offset


# Records: mostly short lines, some empty (skipped), some larger than a page.
records_strategy = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=120),
        st.just(b""),
        st.integers(min_value=1, max_value=3 * PAGE_SIZE).map(lambda n: bytes([65 + n % 26]) * n),
        st.integers(min_value=PAGE_SIZE - 2, max_value=PAGE_SIZE + 2).map(lambda n: b"x" * n),
    ),
    max_size=40,
)
sizes_strategy = st.lists(
    st.one_of(
        st.integers(min_value=1, max_value=200),
        st.integers(min_value=PAGE_SIZE - 1, max_value=PAGE_SIZE + 1),
        st.integers(min_value=1, max_value=5 * PAGE_SIZE),
    ),
    min_size=1,
    max_size=8,
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@FAST
@given(records=records_strategy, sizes=sizes_strategy)
async def test_sequential_reads_concatenate_to_the_content(records: list[bytes], sizes: list[int]) -> None:
    iterator = ListIterator(records)
    seq = SeqFile(iterator)
    assert await read_all(seq, sizes) == b"".join(records)
    assert not iterator.active


@FAST
@given(
    records=records_strategy,
    sizes=st.lists(
        st.one_of(st.integers(min_value=1, max_value=300), st.integers(min_value=PAGE_SIZE, max_value=4 * PAGE_SIZE)),
        min_size=1,
        max_size=6,
    ).map(lambda sizes: sizes + [PAGE_SIZE]),
)
async def test_page_reads_return_whole_records_that_fit(records: list[bytes], sizes: list[int]) -> None:
    iterator = ListIterator(records)
    seq = SeqFile(iterator)
    content = await read_all(seq, sizes, records)
    assert content == b"".join(records)
    assert not iterator.active


@FAST
@given(records=records_strategy, size=st.integers(min_value=PAGE_SIZE, max_value=4 * PAGE_SIZE))
async def test_pages_stay_within_4096_bytes_without_huge_records(records: list[bytes], size: int) -> None:
    records = [r[: PAGE_SIZE - 1] for r in records]
    seq = SeqFile(ListIterator(records))
    offset = 0
    while data := await seq.read(offset, size):
        assert len(data) < PAGE_SIZE
        assert offset + len(data) in boundaries(records)
        offset += len(data)
    assert offset == sum(map(len, records))


@FAST
@given(
    records=records_strategy,
    data=st.data(),
    size=st.one_of(st.integers(min_value=1, max_value=300), st.integers(min_value=1, max_value=3 * PAGE_SIZE)),
)
async def test_pread_at_any_offset_continues_correctly(records: list[bytes], data: st.DataObject, size: int) -> None:
    content = b"".join(records)
    iterator = ListIterator(records)
    seq = SeqFile(iterator)
    for _ in range(3):
        offset = data.draw(st.integers(min_value=0, max_value=len(content) + 10), label="offset")
        first = await seq.read(offset, size)
        assert not iterator.active
        # One read may be short (a page), but it is a prefix of the truth...
        assert first == content[offset : offset + len(first)]
        if offset < len(content):
            assert first, "pread before EOF returned nothing"
        # ...and reading on from where it stopped yields content[off:off+n].
        got = bytearray(first)
        position = offset + len(first)
        while len(got) < size:
            more = await seq.read(position, size - len(got))
            if not more:
                break
            got += more
            position += len(more)
        assert bytes(got) == content[offset : offset + size]


@pytest.mark.slow
@FAST
@given(records=records_strategy, sizes=sizes_strategy, skip=st.integers(min_value=0, max_value=5))
async def test_offset_zero_starts_over(records: list[bytes], sizes: list[int], skip: int) -> None:
    content = b"".join(records)
    iterator = ListIterator(records)
    seq = SeqFile(iterator)
    offset = 0
    for turn in range(skip):
        chunk = await seq.read(offset, sizes[turn % len(sizes)])
        offset += len(chunk)
    assert await read_all(seq, sizes) == content
    # The content changes; a read at 0 shows the new content from the start.
    records.insert(0, b"new first line\n")
    records.append(b"new last line\n")
    assert await read_all(seq, sizes) == b"".join(records)


async def test_single_huge_record_grows_the_buffer() -> None:
    records = [b"a" * 100, b"b" * (2 * PAGE_SIZE + 5), b"c" * 10, b"d" * 20]
    seq = SeqFile(ListIterator(records))
    # The huge record does not fit after the first one: the first page is just "a"s.
    assert await seq.read(0, 1 << 20) == records[0]
    assert seq.buffer_size == PAGE_SIZE
    # Then the buffer doubles until it fits (8197 > 8192, so 16384), and the
    # small records after it share that bigger page.
    assert await seq.read(100, 1 << 20) == records[1] + records[2] + records[3]
    assert seq.buffer_size == 4 * PAGE_SIZE
    assert await seq.read(100 + len(records[1]) + 30, 1 << 20) == b""


async def test_empty_records_are_skipped_and_an_empty_file_reads_empty() -> None:
    seq = SeqFile(ListIterator([b"", b"", b"x\n", b"", b"y\n", b""]))
    assert await seq.read(0, 4096) == b"x\ny\n"
    assert await seq.read(4, 4096) == b""
    assert await SeqFile(ListIterator([])).read(0, 4096) == b""
    assert await SeqFile(ListIterator([b"", b""])).read(0, 4096) == b""


async def test_record_that_does_not_fit_is_rendered_again_by_the_next_read() -> None:
    records = [b"a" * 3000, b"b" * 2000, b"c" * 1000]
    iterator = ListIterator(records)
    seq = SeqFile(iterator)
    assert await seq.read(0, 8192) == records[0]
    assert await seq.read(3000, 8192) == records[1] + records[2]
    assert await seq.read(6000, 8192) == b""


async def test_short_read_leaves_the_rest_of_the_page_for_the_next_read() -> None:
    records = [b"line one\n", b"line two\n", b"line three\n"]
    iterator = ListIterator(records)
    seq = SeqFile(iterator)
    assert await seq.read(0, 3) == b"lin"
    starts = iterator.starts
    # The rest of the first record comes from the buffer, without rendering.
    assert await seq.read(3, 3) == b"e o"
    assert iterator.starts == starts
    assert await seq.read(6, 100) == b"ne\nline two\nline three\n"


async def test_next_that_does_not_move_is_nudged() -> None:
    class Stuck(ListIterator):
        async def next(self, record: int, index: int) -> tuple[int | None, int]:
            assert self.active
            # Claims the next record but forgets to advance the index.
            return (index + 1 if index + 1 < len(self.records) else None), index

    seq = SeqFile(Stuck([b"a\n", b"b\n", b"c\n"]))
    assert await seq.read(0, 4096) == b"a\nb\nc\n"
    assert await seq.read(6, 4096) == b""


# --- the real maps iterator ----------------------------------------------------


def maps_content(mm_vmas: list[Vma]) -> bytes:
    return "".join(format_maps_line(v) for v in mm_vmas).encode() + format_maps_line(gate_vma()).encode()


def make_process(layout: str, count: int = 300):
    table = ProcessTable()
    process = table.spawn("test")
    if layout == "many":
        many_layout(process, count)
    elif layout == "demo":
        demo_layout(process)
    return process


@pytest.fixture(scope="module")
def processes():  # type: ignore[no-untyped-def]
    return {name: make_process(name) for name in ("many", "demo", "empty")}


def maps_records(process) -> list[bytes]:  # type: ignore[no-untyped-def]
    return [format_maps_line(v).encode() for v in process.mm.vmas()] + [format_maps_line(gate_vma()).encode()]


MODES = [LockMode.MMAP, LockMode.VMA, LockMode.VMA_NOGAPCHECK, LockMode.NOLOCK]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    layout=st.sampled_from(["many", "demo", "empty"]),
    mode=st.sampled_from(MODES),
    sizes=sizes_strategy,
)
async def test_maps_sequential_reads_give_every_line_once(processes, layout: str, mode: LockMode, sizes: list[int]) -> None:  # type: ignore[no-untyped-def]
    process = processes[layout]
    iterator = MapsIterator(process, mode)
    seq = SeqFile(iterator)
    expected = maps_content(process.mm.vmas())
    assert await read_all(seq, sizes) == expected
    assert await read_all(seq, [PAGE_SIZE], maps_records(process)) == expected
    assert process.mm.mmap_lock.statistics().readers == 0
    assert all(v.readers == 0 for v in process.mm.vmas())


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(layout=st.sampled_from(["many", "demo"]), mode=st.sampled_from(MODES), data=st.data())
async def test_maps_pread_at_any_offset(processes, layout: str, mode: LockMode, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    process = processes[layout]
    expected = maps_content(process.mm.vmas())
    seq = SeqFile(MapsIterator(process, mode))
    for _ in range(4):
        offset = data.draw(st.integers(min_value=0, max_value=len(expected) + 100), label="offset")
        size = data.draw(st.integers(min_value=1, max_value=3 * PAGE_SIZE), label="size")
        first = await seq.read(offset, size)
        assert first == expected[offset : offset + len(first)]
        if offset < len(expected):
            assert first
        got = bytearray(first)
        position = offset + len(first)
        while len(got) < size and (more := await seq.read(position, size - len(got))):
            got += more
            position += len(more)
        assert bytes(got) == expected[offset : offset + size]
        # Back to 0: the whole file again.
        assert await read_all(seq, [size]) == expected
    assert process.mm.mmap_lock.statistics().readers == 0
    assert all(v.readers == 0 for v in process.mm.vmas())


async def test_maps_pages_are_whole_lines_of_at_most_4096_bytes(processes) -> None:  # type: ignore[no-untyped-def]
    process = processes["many"]
    lines = maps_records(process)
    seq = SeqFile(MapsIterator(process, LockMode.VMA))
    offset, pages = 0, 0
    while data := await seq.read(offset, 1 << 20):
        assert len(data) <= PAGE_SIZE and data.endswith(b"\n")
        check_page(lines, offset, data, 1 << 20, seq.buffer_size, seq.pending)
        offset += len(data)
        pages += 1
    assert offset == len(b"".join(lines))
    assert pages > 1


async def test_maps_ends_with_the_gate_line(processes) -> None:  # type: ignore[no-untyped-def]
    for name in ("demo", "empty"):
        seq = SeqFile(MapsIterator(processes[name]))
        text = await read_all(seq, [PAGE_SIZE])
        assert text.endswith(
            b"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
        )
    assert await read_all(SeqFile(MapsIterator(processes["empty"])), [7]) == format_maps_line(gate_vma()).encode()


def test_maps_readers_lock_as_the_address_space_says() -> None:
    table = ProcessTable(lock_mode=LockMode.MMAP)
    by_default, chosen = table.spawn("d"), table.spawn("c", LockMode.NOLOCK)
    assert by_default.mm.reader_lock_mode is LockMode.MMAP and chosen.mm.reader_lock_mode is LockMode.NOLOCK
    assert isinstance(MapsIterator(by_default).walker, MmapLockWalker)
    assert MapsIterator(chosen).mode is LockMode.NOLOCK
    assert MapsIterator(chosen, LockMode.VMA).mode is LockMode.VMA


async def test_each_open_file_renders_its_own_gate_record(processes) -> None:  # type: ignore[no-untyped-def]
    """The renderer caches a line in the record it shows, so no two open files may share the gate's."""
    iterators = [MapsIterator(processes[name]) for name in ("demo", "empty")]
    gates = []
    for iterator in iterators:
        assert await read_all(SeqFile(iterator), [PAGE_SIZE])
        gate, position = await iterator.start(GATE)
        iterator.stop()
        assert position == GATE and gate is not None
        gates.append(gate)
    assert gates[0] is not gates[1]
    assert gates[0].line == gates[1].line == format_maps_line(gate_vma()).encode()


async def test_a_read_cancelled_mid_page_loses_nothing() -> None:
    """A cancelled read must not leave the position past records it never returned."""
    table = ProcessTable(Preempter(AlwaysPolicy()))
    process = table.spawn("p")
    many_layout(process, 300)
    expected = b"".join(format_maps_line(vma).encode() for vma in process.mm.vmas())
    for cancel_after in (1, 5, 20):
        seq = SeqFile(MapsIterator(process))
        out, offset, reads = b"", 0, 0
        while True:
            reads += 1
            with trio.CancelScope() as scope:
                if reads == 2:
                    async def cancel_soon() -> None:
                        for _ in range(cancel_after):
                            await trio.lowlevel.checkpoint()
                        scope.cancel()

                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(cancel_soon)
                        chunk = await seq.read(offset, 4096)
                        nursery.cancel_scope.cancel()
                else:
                    chunk = await seq.read(offset, 4096)
            if scope.cancelled_caught:
                continue
            if not chunk:
                break
            out += chunk
            offset += len(chunk)
        assert out.startswith(expected), f"lost lines after a cancel at checkpoint {cancel_after}"


@pytest.mark.parametrize("mode", list(LockMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize("sizes", [[PAGE_SIZE], [131072], [100, 4000, 7]], ids=["page", "cat", "odd"])
async def test_the_fast_path_skips_awaited_steps_and_changes_nothing(mode: LockMode, sizes: list[int], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Bytes, preemption counters and VMA read locks are the same with and without the fast path; only awaits go."""
    awaited = 0
    awaited_next = MapsIterator.next

    async def counting_next(self: MapsIterator, vma: Vma, position: int) -> tuple[Vma | None, int]:
        nonlocal awaited
        awaited += 1
        return await awaited_next(self, vma, position)

    monkeypatch.setattr(MapsIterator, "next", counting_next)
    seen = {}
    for fast in (True, False):
        awaited = 0
        table = ProcessTable(Preempter(VirtualSlicePolicy()), mode)
        process = table.spawn("p")
        many_layout(process, 1000)
        data = await read_all(SeqFile(MapsIterator(process), fast=fast), sizes)
        readers = sum(vma.readers for vma in process.mm.vmas())
        seen[fast] = (data, table.preempter.stats, readers, awaited)
    assert seen[True][:3] == seen[False][:3]
    assert seen[True][2] == 0
    assert seen[False][3] > 1000 and seen[True][3] < seen[False][3] / 4, (seen[True][3], seen[False][3])


async def test_the_fast_path_hands_over_while_a_writer_is_inside() -> None:
    """With mmap_lock write-held, vma-mode steps must be awaited: the lookups may race that writer."""
    process = ProcessTable(Preempter(VirtualSlicePolicy()), LockMode.VMA).spawn("p")
    many_layout(process, 100)
    iterator = MapsIterator(process)
    vma, position = await iterator.start(0)
    assert vma is not None
    process.mm.mmap_lock.acquire_write_nowait()
    assert list(iterator.steps_nowait(vma, position)) == []
    process.mm.mmap_lock.release_write()
    assert [step[0] for step in iterator.steps_nowait(vma, position)][:2] == process.mm.vmas()[1:3]
    iterator.stop()
    assert sum(vma.readers for vma in process.mm.vmas()) == 0


#: Policies under which a run of the fast path must step exactly as single steps do.
RUN_POLICIES: dict[str, Callable[[], Policy]] = {
    "virtual": VirtualSlicePolicy,
    "virtual:1": lambda: VirtualSlicePolicy(1),
    "never": NeverPolicy,
    "random:0.02": lambda: RandomPolicy(7, 0.02),
}


def named_layout(process: Process, name_lengths: list[int]) -> None:
    """One anonymous VMA per length, named with that many characters (0: no name), a page apart."""
    address = 0x10000000
    for index, length in enumerate(name_lengths):
        name = chr(97 + index % 26) * length if length else None
        process.mm.install(Vma(address, address + MM_PAGE_SIZE, VmFlags.READ, 0, None, name))
        address += 2 * MM_PAGE_SIZE


@pytest.mark.parametrize("mode", list(LockMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize("policy", list(RUN_POLICIES), ids=str)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    # Line lengths from 41 bytes to a few hundred, now and then one bigger than a page (the buffer doubles).
    name_lengths=st.lists(st.one_of(st.integers(0, 300), st.just(5000)), min_size=1, max_size=300),
    sizes=st.lists(st.one_of(st.integers(1, 300), st.sampled_from([PAGE_SIZE - 1, PAGE_SIZE, 131072])), min_size=1, max_size=4),
    cached=st.booleans(),
)
async def test_runs_of_lines_read_and_count_as_single_steps(
    mode: LockMode, policy: str, name_lengths: list[int], sizes: list[int], cached: bool, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A run of the fast path gives the bytes, counters, locks and positions of stepping record by record.

    Lines of every length put the page's ends (the bytes wanted, the
    buffer, the boundary where windows open) anywhere within a run; the
    lines are cached from an earlier read or rendered by the run itself.
    """
    taken = 0
    take_nowait = MapsIterator.take_nowait

    def counting_take(self: MapsIterator, *args: int) -> tuple[list[bytes], Vma | None, int, bool, int]:
        nonlocal taken
        result = take_nowait(self, *args)  # type: ignore[arg-type]
        taken += len(result[0])
        return result

    monkeypatch.setattr(MapsIterator, "take_nowait", counting_take)
    seen = {}
    for fast in (True, False):
        taken = 0
        table = ProcessTable(Preempter(RUN_POLICIES[policy]()), mode)
        process = table.spawn("p")
        named_layout(process, name_lengths)
        if cached:
            await read_all(SeqFile(MapsIterator(process), fast=False), [PAGE_SIZE])
        iterator = MapsIterator(process)
        data = await read_all(SeqFile(iterator, fast=fast), sizes)
        readers = sum(vma.readers for vma in process.mm.vmas())
        seen[fast] = (data, table.preempter.stats, readers, iterator.last_pos, taken)
    assert seen[True][:4] == seen[False][:4]
    assert seen[True][0] == b"".join(format_maps_line(vma).encode() for vma in [*process.mm.vmas(), gate_vma()])
    if len(name_lengths) > 100 and max(sizes) >= PAGE_SIZE and policy != "virtual:1":
        assert seen[True][4] > 0, "no run was taken"


@pytest.mark.parametrize("mode", list(LockMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize("policy", list(RUN_POLICIES), ids=str)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name_lengths=st.lists(st.one_of(st.integers(0, 300), st.just(5000)), min_size=1, max_size=300),
    sizes=st.lists(st.one_of(st.integers(1, 300), st.sampled_from([PAGE_SIZE - 1, PAGE_SIZE, 131072])), min_size=1, max_size=4),
)
async def test_a_run_records_for_the_page_cache_what_single_steps_do(
    mode: LockMode, policy: str, name_lengths: list[int], sizes: list[int]
) -> None:
    """A page cache filled by runs keeps the steps, bytes and shown lengths single steps would, and replays them alike.

    Each file reads twice from offset 0: the first read records its pages,
    the second is served from them.  Both reads, their counters and the
    iterator's state must not tell a file whose fast path takes runs from
    one that steps record by record.
    """
    seen = {}
    for runs in (True, False):
        table = ProcessTable(Preempter(RUN_POLICIES[policy]()), mode)
        process = table.spawn("p")
        named_layout(process, name_lengths)
        iterator = MapsIterator(process)
        if not runs:
            # SeqFile looks the run method up once, when it opens: without it, it steps record by record.
            iterator.take_nowait = None  # type: ignore[assignment,method-assign]
        seq = SeqFile(iterator)
        first = await read_all(seq, sizes)
        kept = {
            key: (
                page.first.start,
                [vma.start if vma is not None else None for vma in page.steps.columns()[0]],
                *page.steps.columns()[1:],
                page.shown_at_end,
                page.data(),
            )
            for key, page in seq.page_cache.items()
        }
        again = await read_all(seq, sizes)
        readers = sum(vma.readers for vma in process.mm.vmas())
        seen[runs] = (first, again, kept, table.preempter.stats, readers, iterator.last_pos, iterator.page_bytes, vars(seq.cache_stats))
    assert seen[True] == seen[False]
    assert seen[True][0] == seen[True][1]


def test_no_maps_line_is_shorter_than_a_run_assumes() -> None:
    """A run looks ahead ``room // SHORTEST_LINE + 1`` VMAs: the shortest line the format makes is that long."""
    shortest = Vma(0, MM_PAGE_SIZE, VmFlags(0))
    assert len(format_maps_line(shortest)) == SHORTEST_LINE
    named = Vma(0, MM_PAGE_SIZE, VmFlags(0), 0, None, "x")
    assert len(format_maps_line(named)) > SHORTEST_LINE


async def test_a_nolock_run_waits_for_the_tree_to_settle() -> None:
    """Mid-split, a VMA has shrunk but its tree range has not: nolock's steps find it again and again, and so must a fast read."""
    pages = {}
    for fast in (True, False):
        process = ProcessTable(Preempter(NeverPolicy()), LockMode.NOLOCK).spawn("p")
        many_layout(process, 300)
        shrinking = process.mm.vmas()[10]
        process.mm.mmap_lock.acquire_write_nowait()
        shrinking.set_range(shrinking.start, shrinking.end - MM_PAGE_SIZE, shrinking.pgoff)
        # Stepping by vm_end never leaves the stale range, so the file has no end: read its first page.
        pages[fast] = await SeqFile(MapsIterator(process), fast=fast).read(0, PAGE_SIZE)
        process.mm.mmap_lock.release_write()
    assert pages[True] == pages[False]
    assert pages[True].count(format_maps_line(shrinking).encode()) > 1
