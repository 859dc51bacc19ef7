"""/proc/<pid>/status: VmPeak and VmHWM are high-water marks of the address space, not of its readers."""

from __future__ import annotations

from fakeproc.mm import syscalls
from fakeproc.mm.syscalls import MapFlags
from fakeproc.mm.vma import PAGE_SIZE, prot_from_text
from fakeproc.population import demo_layout
from fakeproc.process import Process, ProcessTable
from fakeproc.procfs.stat import render_statm
from fakeproc.procfs.status import render_status
from fakeproc.sched import NeverPolicy, Preempter

P = PAGE_SIZE
RW = prot_from_text("rw-")
PRIVATE_ANON = MapFlags.PRIVATE | MapFlags.ANONYMOUS

#: The order of ``task_mem``'s lines in the kernel; status prints a subsequence of it.
TASK_MEM_ORDER = ["VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem",
                  "VmData", "VmStk", "VmExe", "VmLib", "VmPTE", "VmSwap"]


def spawn() -> Process:
    return ProcessTable(Preempter(NeverPolicy())).spawn("p")


def fields(process: Process) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in render_status(process).decode().splitlines())


def kb(nbytes: int) -> str:
    return f"{nbytes >> 10:8d} kB"


async def test_peaks_survive_an_unmap_with_no_status_read_in_between() -> None:
    process = spawn()
    addr = await syscalls.mmap(process.mm, 0, 10 * P, RW, PRIVATE_ANON)
    await syscalls.touch(process.mm, addr, 6 * P)
    await syscalls.munmap(process.mm, addr, 10 * P)
    status = fields(process)
    assert (status["VmPeak"], status["VmSize"]) == (kb(10 * P), kb(0))
    assert (status["VmHWM"], status["VmRSS"]) == (kb(6 * P), kb(0))


async def test_peaks_keep_the_largest_size_not_the_latest() -> None:
    process = spawn()
    mm = process.mm
    big = await syscalls.mmap(mm, 0, 8 * P, RW, PRIVATE_ANON | MapFlags.POPULATE)
    await syscalls.munmap(mm, big, 8 * P)
    small = await syscalls.mmap(mm, 0, 3 * P, RW, PRIVATE_ANON)
    await syscalls.touch(mm, small, 3 * P)
    status = fields(process)
    assert (status["VmPeak"], status["VmSize"]) == (kb(8 * P), kb(3 * P))
    assert (status["VmHWM"], status["VmRSS"]) == (kb(8 * P), kb(3 * P))


async def test_reading_status_changes_nothing() -> None:
    """Two identical histories, one read in the middle and one not, end with the same status."""
    read, unread = spawn(), spawn()
    for process in (read, unread):
        addr = await syscalls.mmap(process.mm, 0, 4 * P, RW, PRIVATE_ANON | MapFlags.POPULATE)
        if process is read:
            assert fields(read)["VmPeak"] == kb(4 * P)
        await syscalls.munmap(process.mm, addr, 4 * P)
    assert render_status(read) == render_status(unread)


def test_an_installed_layout_is_its_own_peak() -> None:
    process = spawn()
    demo_layout(process)
    status = fields(process)
    assert status["VmPeak"] == status["VmSize"] == kb(process.mm.total_vm)
    assert process.mm.total_vm == sum(vma.end - vma.start for vma in process.mm.vmas()) > 0


def test_memory_lines_follow_the_kernels_order() -> None:
    rendered = [name for name in fields(spawn()) if name in TASK_MEM_ORDER]
    assert rendered == [name for name in TASK_MEM_ORDER if name in rendered]
    assert {"VmPeak", "VmSize", "VmHWM", "VmRSS"} <= set(rendered)


#: What procps (readproc's status parser, top, pmap) and psutil read from status.
PARSED_FIELDS = {"Name", "State", "Tgid", "Pid", "PPid", "TracerPid", "Uid", "Gid", "Groups", "NSpid", "NStgid",
                 "VmSize", "VmLck", "VmRSS", "RssAnon", "RssFile", "RssShmem", "VmData", "VmStk", "VmExe",
                 "VmLib", "VmSwap", "Threads", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt",
                 "Cpus_allowed_list", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"}


def test_fields_are_the_hosts_in_the_hosts_order() -> None:
    """Every line is one this kernel prints for a real process, in the same order; the parsed ones are all there."""
    process = spawn()
    demo_layout(process)
    with open("/proc/self/status") as real:
        host = [line.split(":", 1)[0] for line in real]
    ours = list(fields(process))
    assert PARSED_FIELDS <= set(ours)
    assert set(ours) <= set(host), set(ours) - set(host)
    assert ours == [name for name in host if name in ours]


async def test_memory_lines_add_up_with_statm() -> None:
    process = spawn()
    demo_layout(process)
    await syscalls.mmap(process.mm, 0, 4 * P, RW, PRIVATE_ANON | MapFlags.POPULATE)
    status = {name: int(value.split()[0]) for name, value in fields(process).items() if value.endswith(" kB")}
    assert status["VmRSS"] == status["RssAnon"] + status["RssFile"] + status["RssShmem"] >= 16
    size, resident, shared, text, _, data, _ = (int(pages) * 4 for pages in render_statm(process).split())
    assert (size, resident, shared, text) == (status["VmSize"], status["VmRSS"], status["RssFile"] + status["RssShmem"],
                                              status["VmExe"])
    assert data == status["VmData"] + status["VmStk"]
