"""smaps and smaps_rollup from the simulated residency, and smaps' locking."""

from __future__ import annotations

import re
from functools import partial

import trio
import trio.testing

from fakeproc.calls import PROCESS_CALLS
from fakeproc.process import ProcessTable
from fakeproc.procfs.smaps import SmapsIterator, SmapsRollupIterator
from fakeproc.seqfile import SeqFile


def fields(record: str) -> dict[str, str]:
    return {line.split(":")[0]: line.split(":", 1)[1].strip() for line in record.splitlines()[1:]}


def records_by_start(text: str) -> dict[int, dict[str, str]]:
    """Each smaps record's fields, keyed by the start address in its header line."""
    result: dict[int, dict[str, str]] = {}
    start = None
    for line in text.splitlines():
        if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):
            start = int(line.split("-")[0], 16)
            result[start] = {}
        elif start is not None:
            name, _, value = line.partition(":")
            result[start][name] = value.strip()
    return result


async def read(iterator: SmapsIterator | SmapsRollupIterator) -> str:
    seq, offset, out = SeqFile(iterator), 0, b""
    while chunk := await seq.read(offset, 4096):
        out += chunk
        offset += len(chunk)
    return out.decode()


async def test_rss_follows_touch_and_populate() -> None:
    process = ProcessTable().spawn("p")
    run = partial(PROCESS_CALLS.run, process)
    rw = int(await run("mmap 0 0x4000 rw- private,anonymous"), 16)
    ro = int(await run("mmap 0 0x2000 r-- private,anonymous,populate"), 16)
    await run(f"touch {rw + 0x1000:#x} 0x2000")
    by_start = records_by_start(await read(SmapsIterator(process)))
    assert by_start[rw]["Size"] == "16 kB" and by_start[rw]["Rss"] == "8 kB"
    assert by_start[rw]["Anonymous"] == "8 kB" and by_start[rw]["Private_Dirty"] == "8 kB"
    assert by_start[rw]["Pss"] == "8 kB"
    # Populating a read-only private mapping maps the zero page: no Rss.
    assert by_start[ro]["Rss"] == "0 kB"
    rollup = await read(SmapsRollupIterator(process))
    header, *_ = rollup.splitlines()
    assert header.startswith(f"{ro:08x}-{rw + 0x4000:08x} ---p 00000000 00:00 0 ") and header.endswith(" [rollup]")
    totals = fields(rollup)
    assert totals["Rss"] == "8 kB" and totals["Pss_Anon"] == "8 kB" and totals["Pss_File"] == "0 kB"
    await run(f"munmap {rw:#x} 0x4000")
    assert fields(await read(SmapsRollupIterator(process)))["Rss"] == "0 kB"


async def test_vmflags_line() -> None:
    process = ProcessTable().spawn("p")
    run = partial(PROCESS_CALLS.run, process)
    await run("mmap 0 0x1000 rw- private,anonymous")
    await run("mmap 0 0x1000 r-- shared,anonymous")
    text = await read(SmapsIterator(process))
    flags = [line for line in text.splitlines() if line.startswith("VmFlags:")]
    assert flags[0] == "VmFlags: rd sh mr mw me ms "
    assert flags[1] == "VmFlags: rd wr mr mw me ac "


async def test_smaps_holds_mmap_lock_for_the_whole_page() -> None:
    """Even in vma mode a writer waits while an smaps page is rendered."""
    process = ProcessTable().spawn("p")
    run = partial(PROCESS_CALLS.run, process)
    for _ in range(200):
        await run("mmap 0 0x1000 r-x private,anonymous")
        await run("mmap 0 0x1000 r-- private,anonymous")
    iterator = SmapsIterator(process)
    record, _ = await iterator.start(0)
    assert record is not None and process.mm.mmap_lock.read_locked
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "mmap 0 0x1000 rw- private,anonymous")
        await trio.testing.wait_all_tasks_blocked()
        assert process.mm.mmap_lock.statistics().writers_waiting == 1
        iterator.stop()
    assert process.mm.map_count == 401
