"""The page cache of an open seq_file changes how pages are made, never what anyone can observe.

Properties (docs/design.md, "The read path"):
- on the same seeded run, with a writer changing the address space now and
  then, reading with the cache and without gives the same bytes, the same
  page windows, the same preemption counters (points, yields, windows,
  window yields, the virtual clock), the same writer counters and no VMA
  lock left held, in every lock mode and under every policy;
- a quiet re-read is served from the cache (hits are counted);
- any change between two reads (a write, a fault, an install) is seen;
- the cache keeps at most ``CACHED_PAGES`` pages, the first ones rendered;
- the broken lock modes are still caught when one open file reads again and again.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import astuple
from itertools import count

import pytest
import trio
from hypothesis import given, settings, strategies as st

from fakeproc.lab.oracle import PageRecorder, read_from_start, run_race, seed_trio
from fakeproc.mm import syscalls
from fakeproc.mm.vma import PAGE_SIZE, Vma, VmFlags
from fakeproc.mm.walk import LockMode
from fakeproc.population import many_layout
from fakeproc.process import Process, ProcessTable
from fakeproc.procfs.maps import MapsIterator
from fakeproc.procfs.smaps import SmapsIterator
from fakeproc.sched import AlwaysPolicy, NeverPolicy, Policy, Preempter, RandomPolicy, VirtualSlicePolicy
from fakeproc.pagecache import CACHED_PAGES, PageCache, PageCacheStats, StepLog
from fakeproc.seqfile import SeqFile
from fakeproc.workloads import parse_workload

POLICIES: dict[str, Callable[[int], Policy]] = {
    "virtual": lambda seed: VirtualSlicePolicy(),
    "virtual:1": lambda seed: VirtualSlicePolicy(1),
    "random:0.5": lambda seed: RandomPolicy(seed, 0.5),
    "random:0.02": lambda seed: RandomPolicy(seed, 0.02),
    "always": lambda seed: AlwaysPolicy(),
    "never": lambda seed: NeverPolicy(),
}

READ = VmFlags.READ
#: Checkpoints the writer lets pass between two changes of a burst, and between bursts.
WRITER_PAUSES = (20, 20, 20, 1000)
READ_WRITE = VmFlags.READ | VmFlags.WRITE


def spawn(table: ProcessTable, vmas: int = 300) -> Process:
    process = table.spawn("cached")
    many_layout(process, vmas)
    return process


def open_file(process: Process, kind: str, cache: bool, mode: LockMode | None = None, observer: object = None) -> SeqFile:  # type: ignore[type-arg]
    if kind == "smaps":
        return SeqFile(SmapsIterator(process, observer=observer), cache=cache)  # type: ignore[arg-type]
    return SeqFile(MapsIterator(process, mode, observer=observer), cache=cache)  # type: ignore[arg-type]


def run_with_writer(kind: str, mode: LockMode, policy: Policy, seed: int, cache: bool) -> tuple[object, PageCacheStats]:
    """Read one open file 6 times while a writer changes pages in bursts; what an observer can tell."""
    seen: dict[str, object] = {}
    stats = PageCacheStats()

    async def main() -> None:
        table = ProcessTable(Preempter(policy), mode)
        process = spawn(table)
        targets = [vma.start for vma in process.mm.vmas() if not vma.flags & VmFlags.WRITE][::20]
        recorder = PageRecorder(process.mm)
        seq = open_file(process, kind, cache, observer=recorder)
        digest = hashlib.sha256()

        async def write_now_and_then() -> None:
            for step in count():
                for _ in range(WRITER_PAUSES[step % len(WRITER_PAUSES)]):
                    await trio.lowlevel.checkpoint()
                addr = targets[step % len(targets)]
                if step % 3 == 2:
                    await syscalls.touch(process.mm, addr, PAGE_SIZE)
                else:
                    await syscalls.mprotect(process.mm, addr, PAGE_SIZE, READ_WRITE if step % 2 else READ)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_now_and_then)
            for _ in range(6):
                for page in await read_from_start(seq):
                    digest.update(page)
            nursery.cancel_scope.cancel()
        seen["pages"] = digest.hexdigest()
        seen["windows"] = [(w.start_tick, w.stop_tick, w.writer_steps_inside) for w in recorder.windows]
        seen["preempt"] = astuple(table.preempter.stats)
        seen["writer"] = astuple(process.mm.stats)
        seen["vma readers"] = sum(vma.readers for vma in process.mm.vmas())
        seen["state"] = (seq.index, seq.read_pos, seq.pending, seq.iterator.last_pos)  # type: ignore[attr-defined]
        stats.__dict__.update(vars(seq.cache_stats))

    seed_trio(seed)
    random.seed(seed)
    trio.run(main)
    return seen, stats


#: The everyday subset; the rest of the matrix runs with the slow tests.
EVERYDAY_POLICIES = ("virtual", "random:0.5")


@pytest.mark.parametrize(
    "policy", [pytest.param(name, marks=() if name in EVERYDAY_POLICIES else pytest.mark.slow) for name in POLICIES]
)
@pytest.mark.parametrize(
    "kind, mode",
    [("maps", mode) for mode in LockMode] + [("smaps", LockMode.MMAP)],
    ids=lambda value: value.value if isinstance(value, LockMode) else value,
)
def test_cached_reads_observe_exactly_what_uncached_reads_do(kind: str, mode: LockMode, policy: str) -> None:
    hits = 0
    for seed in range(3):
        cached, stats = run_with_writer(kind, mode, POLICIES[policy](seed), seed, cache=True)
        uncached, _ = run_with_writer(kind, mode, POLICIES[policy](seed), seed, cache=False)
        assert cached == uncached, f"seed {seed}"
        assert cached["vma readers"] == 0
        hits += stats.hits
    # Some pages must have been served from the cache, or this compared nothing.
    assert hits > 0


@pytest.mark.parametrize("kind", ["maps", "smaps"])
@pytest.mark.parametrize("mode", list(LockMode), ids=lambda mode: mode.value)
async def test_a_quiet_reread_is_served_from_the_cache(kind: str, mode: LockMode) -> None:
    process = spawn(ProcessTable(Preempter(VirtualSlicePolicy()), mode), vmas=100)
    seq = open_file(process, kind, cache=True)
    first = await read_from_start(seq)
    assert seq.cache_stats == PageCacheStats(misses=len(first))
    again = await read_from_start(seq)
    assert again == first
    assert seq.cache_stats == PageCacheStats(hits=len(first), misses=len(first))
    assert f"hits={len(first)} misses={len(first)} stale=0" in repr(seq)
    assert sum(vma.readers for vma in process.mm.vmas()) == 0


async def test_pread_of_a_page_already_read_is_a_hit() -> None:
    process = spawn(ProcessTable())
    seq = open_file(process, "maps", cache=True)
    first = await seq.read(0, PAGE_SIZE)
    second = await seq.read(len(first), PAGE_SIZE)
    assert await seq.read(0, PAGE_SIZE) == first
    # Back at the second page after a traverse: the same record starts it.
    assert await seq.read(len(first), PAGE_SIZE) == second
    assert (seq.cache_stats.hits, seq.cache_stats.misses) == (2, 2)


async def test_a_change_between_reads_is_seen() -> None:
    process = spawn(ProcessTable())
    seq = open_file(process, "maps", cache=True)
    await read_from_start(seq)
    start = process.mm.vmas()[3].start
    await syscalls.munmap(process.mm, start, PAGE_SIZE)
    after = b"".join(await read_from_start(seq))
    assert f"{start:08x}-".encode() not in after
    assert after == b"".join(await read_from_start(open_file(process, "maps", cache=False)))
    assert seq.cache_stats.stale == 1


async def test_a_fault_is_seen_in_smaps() -> None:
    process = spawn(ProcessTable())
    seq = open_file(process, "smaps", cache=True)
    before = await seq.read(0, PAGE_SIZE)
    writable = next(vma for vma in process.mm.vmas() if vma.flags & VmFlags.WRITE)
    await syscalls.touch(process.mm, writable.start, PAGE_SIZE)
    after = await seq.read(0, PAGE_SIZE)
    one_page = b"Rss:".ljust(16) + b"4 kB".rjust(11)
    assert one_page in after and one_page not in before
    assert seq.cache_stats.stale == 1


async def test_an_install_is_seen() -> None:
    process = spawn(ProcessTable(), vmas=10)
    seq = open_file(process, "maps", cache=True)
    before = await seq.read(0, PAGE_SIZE)
    process.mm.install(Vma(0x10000, 0x10000 + PAGE_SIZE, READ))
    after = await seq.read(0, PAGE_SIZE)
    assert after.startswith(b"00010000-00011000 r--p") and not before.startswith(b"00010000")
    assert after == await open_file(process, "maps", cache=False).read(0, PAGE_SIZE)


async def test_the_cache_keeps_at_most_its_page_count() -> None:
    process = spawn(ProcessTable(), vmas=3000)
    seq = open_file(process, "maps", cache=True)
    pages = await read_from_start(seq)
    assert len(pages) > CACHED_PAGES
    assert len(seq.page_cache) == CACHED_PAGES and f"{CACHED_PAGES} page(s)" in repr(seq)
    seq.page_cache.check()
    assert await read_from_start(seq) == pages
    # A full cache keeps what it has: the first pages are served again.
    assert seq.cache_stats.hits == CACHED_PAGES


async def test_the_switch_turns_the_cache_off() -> None:
    process = spawn(ProcessTable())
    seq = open_file(process, "maps", cache=False)
    await read_from_start(seq)
    await read_from_start(seq)
    assert seq.cache_stats == PageCacheStats()


Operation = tuple[str, int]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(list(LockMode)),
    st.lists(
        st.one_of(
            st.tuples(st.just("read"), st.sampled_from([0, 1, 2, 3, 100, 4096, 9000])),
            st.tuples(st.just("next"), st.sampled_from([1, 200, 4096, 131072])),
            st.tuples(st.sampled_from(["protect", "unprotect", "touch", "unmap"]), st.integers(0, 99)),
        ),
        max_size=25,
    ),
)
def test_any_reads_and_writes_give_what_the_uncached_file_gives(mode: LockMode, operations: list[Operation]) -> None:
    """Reads at any offsets (pread, lseek) and sizes, with changes in between: the same bytes and counters."""

    async def replay(cache: bool) -> tuple[object, ...]:
        table = ProcessTable(Preempter(VirtualSlicePolicy()), mode)
        process = spawn(table, vmas=200)
        starts = [vma.start for vma in process.mm.vmas()][::2]
        seq = open_file(process, "maps", cache)
        out: list[bytes] = []
        position = 0
        for name, argument in operations:
            if name == "read":
                out.append(await seq.read(argument, 4096))
                position = argument + len(out[-1])
            elif name == "next":
                out.append(await seq.read(position, argument))
                position += len(out[-1])
            else:
                addr = starts[argument % len(starts)]
                try:
                    if name == "unmap":
                        await syscalls.munmap(process.mm, addr, PAGE_SIZE)
                    elif name == "touch":
                        await syscalls.touch(process.mm, addr, PAGE_SIZE)
                    else:
                        await syscalls.mprotect(process.mm, addr, PAGE_SIZE, READ if name == "protect" else READ_WRITE)
                except Exception as error:  # noqa: BLE001 - an unmapped target fails alike both ways
                    out.append(repr(error).encode())
        return out, astuple(table.preempter.stats), (seq.index, seq.read_pos, seq.pending)

    assert trio.run(replay, True) == trio.run(replay, False)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [LockMode.VMA_NOGAPCHECK, LockMode.NOLOCK], ids=lambda mode: mode.value)
def test_broken_modes_are_still_caught_by_one_caching_file(mode: LockMode) -> None:
    caught = []
    for seed in range(8):
        cached = run_race(parse_workload("toggler:split"), mode, seed, reads=3, policy=VirtualSlicePolicy(), one_file=True)
        uncached = run_race(
            parse_workload("toggler:split"), mode, seed, reads=3, policy=VirtualSlicePolicy(), one_file=True, cache=False
        )
        assert (cached.digest, cached.counters, [str(v) for v in cached.violations]) == (
            uncached.digest, uncached.counters, [str(v) for v in uncached.violations]), f"seed {seed}"
        if cached.violations:
            caught.append(seed)
    assert caught, f"{mode.value}: no torn read in 8 seeds"


def test_the_page_store_forgets_everything_when_the_version_moves_and_counts_each_lookup() -> None:
    totals = PageCacheStats()
    cache: PageCache[str] = PageCache(totals)
    steps: StepLog[str] = StepLog()
    assert cache.lookup((0, 4096, 4096), "first", 2) is None  # a new version: nothing kept yet
    cache.check()
    cache.keep((0, 4096, 4096), "first", steps, 10, [b"a", b"b"])
    cache.check()
    kept = cache.lookup((0, 4096, 4096), "first", 2)
    assert kept is not None and kept.data() == b"ab" and kept.shown_at_end == 10
    assert cache.lookup((0, 4096, 4096), "another first record", 2) is None
    assert cache.lookup((8, 4096, 4096), "first", 2) is None
    assert cache.lookup((0, 4096, 4096), "first", 4) is None  # the version moved on: found, but stale
    cache.check()
    assert len(cache) == 0 and cache.lookup((0, 4096, 4096), "first", 4) is None
    assert cache.stats == totals == PageCacheStats(misses=4, stale=1)


def test_the_page_store_refuses_a_page_past_its_bound() -> None:
    cache: PageCache[int] = PageCache()
    cache.lookup((0, 1, 1), 0, 1)
    for key in range(CACHED_PAGES):
        assert cache.has_room()
        cache.keep((key, 1, 1), key, StepLog(), 0, [b""])
        cache.check()
    assert not cache.has_room()
    with pytest.raises(RuntimeError, match="full"):
        cache.keep((CACHED_PAGES, 1, 1), CACHED_PAGES, StepLog(), 0, [b""])
    assert len(cache) == CACHED_PAGES
