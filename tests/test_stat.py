"""stat, statm and environ: the kernel's shape, and values that agree with maps."""

from __future__ import annotations

import pytest

from fakeproc.mm import syscalls
from fakeproc.mm.syscalls import MapFlags
from fakeproc.mm.vma import PAGE_SIZE, MappedFile, VmFlags
from fakeproc.population import demo_layout
from fakeproc.procfs.maps import format_maps_line
from fakeproc.procfs.stat import PF_KTHREAD, RLIM_INFINITY, render_environ, render_stat, render_statm
from fakeproc.process import Process, ProcessTable

#: proc(5) numbers stat's fields from 1; these are the ones the tests read.
PID, COMM, STATE, PPID, FLAGS, NUM_THREADS, VSIZE, RSS, RSSLIM, STARTCODE, ENDCODE = 1, 2, 3, 4, 9, 20, 23, 24, 25, 26, 27
STARTTIME, START_DATA, END_DATA, START_BRK = 22, 45, 46, 47
SIZE, RESIDENT, SHARED, TEXT, LIB, DATA, DT = range(7)


def parse_stat(text: str) -> list[str]:
    """Split stat the way procps and psutil do: comm is what lies between the first '(' and the last ')'."""
    head, _, tail = text.rstrip("\n").rpartition(")")
    pid, _, comm = head.partition(" (")
    return [pid, comm, *tail.split()]


def field(fields: list[str], number: int) -> str:
    return fields[number - 1]


def demo_process() -> Process:
    process = ProcessTable().spawn("bash")
    demo_layout(process)
    return process


def maps_bytes(process: Process) -> int:
    """Sum of the sizes of maps' lines, read back from the text as a tool would."""
    total = 0
    for vma in process.mm.vmas():
        start, end = format_maps_line(vma).split()[0].split("-")
        total += int(end, 16) - int(start, 16)
    return total


def test_stat_has_the_kernels_field_count_and_shape() -> None:
    with open("/proc/self/stat") as real:
        kernel = parse_stat(real.read())
    simulated = parse_stat(render_stat(demo_process()).decode())
    assert len(simulated) == len(kernel) == 52
    assert len(field(simulated, STATE)) == 1 and field(simulated, STATE).isalpha()
    for number, value in enumerate(simulated, start=1):
        if number not in (COMM, STATE):
            int(value)  # every other field is a decimal number, as in the kernel's


def test_comm_with_parentheses_and_spaces_survives_the_last_paren_split() -> None:
    process = ProcessTable().spawn("a) (b c)")
    fields = parse_stat(render_stat(process).decode())
    assert field(fields, COMM) == "a) (b c)" and field(fields, STATE) == "S" and len(fields) == 52


def test_stat_identity_and_limits() -> None:
    process = demo_process()
    fields = parse_stat(render_stat(process, starttime=4242).decode())
    assert field(fields, PID) == str(process.pid) and field(fields, COMM) == "bash"
    assert field(fields, PPID) == "1" and field(fields, NUM_THREADS) == "1"
    assert field(fields, STARTTIME) == "4242" and int(field(fields, RSSLIM)) == RLIM_INFINITY
    assert int(field(fields, FLAGS)) & PF_KTHREAD == 0


def test_vsize_and_statm_size_agree_with_maps() -> None:
    process = demo_process()
    fields = parse_stat(render_stat(process).decode())
    statm = render_statm(process).decode().split()
    assert len(statm) == len(open("/proc/self/statm").read().split()) == 7
    assert int(field(fields, VSIZE)) == maps_bytes(process) == int(statm[SIZE]) * PAGE_SIZE
    assert statm[LIB] == statm[DT] == "0"


def test_code_data_and_heap_come_from_the_binary_and_heap_vmas() -> None:
    process = demo_process()
    vmas = process.mm.vmas()
    text = next(v for v in vmas if v.flags & VmFlags.EXEC and v.file is not None)
    data = next(v for v in vmas if v.file == text.file and v.flags & VmFlags.WRITE)
    heap = next(v for v in vmas if v.name == "[heap]")
    fields = parse_stat(render_stat(process).decode())
    assert (int(field(fields, STARTCODE)), int(field(fields, ENDCODE))) == (text.start, text.end)
    assert (int(field(fields, START_DATA)), int(field(fields, END_DATA))) == (data.start, data.end)
    assert int(field(fields, START_BRK)) == heap.start
    statm = render_statm(process).decode().split()
    assert int(statm[TEXT]) == text.pages
    writable_private = sum(v.pages for v in vmas if v.flags & (VmFlags.WRITE | VmFlags.SHARED) == VmFlags.WRITE)
    assert int(statm[DATA]) == writable_private  # data_vm + stack_vm: the stack is writable and private too


async def test_rss_counts_touched_pages_and_shared_counts_file_pages() -> None:
    process = ProcessTable().spawn("toucher")
    mm = process.mm
    rw = VmFlags.READ | VmFlags.WRITE
    anon = await syscalls.mmap(mm, 0, 8 * PAGE_SIZE, rw, MapFlags.PRIVATE | MapFlags.ANONYMOUS)
    await syscalls.touch(mm, anon + PAGE_SIZE, 3 * PAGE_SIZE)
    statm = render_statm(process).decode().split()
    assert statm[RESIDENT] == "3" and statm[SHARED] == "0"
    # A two-page file: the read fault maps both of its pages, none past its end.
    data = MappedFile("/data", inode=7, size=2 * PAGE_SIZE)
    mapped = await syscalls.mmap(mm, 0, 4 * PAGE_SIZE, VmFlags.READ, MapFlags.PRIVATE, data)
    await syscalls.touch(mm, mapped, 2 * PAGE_SIZE)
    fields = parse_stat(render_stat(process).decode())
    statm = render_statm(process).decode().split()
    assert field(fields, RSS) == statm[RESIDENT] == "5" and statm[SHARED] == "2"
    assert int(field(fields, VSIZE)) == 12 * PAGE_SIZE


def test_a_process_without_mm_is_a_kernel_thread_with_nothing_mapped() -> None:
    process = ProcessTable().spawn("kworker/0:1")
    process.has_mm = False
    fields = parse_stat(render_stat(process).decode())
    assert int(field(fields, FLAGS)) & PF_KTHREAD
    assert field(fields, VSIZE) == field(fields, RSS) == field(fields, STARTCODE) == "0"
    assert render_statm(process) == b"0 0 0 0 0 0 0\n"


def test_environ_is_nul_terminated_strings() -> None:
    environment = {"PATH": "/usr/bin:/bin", "EMPTY": "", "LANG": "C.UTF-8"}
    rendered = render_environ(environment)
    assert rendered.endswith(b"\0")
    assert dict(item.decode().split("=", 1) for item in rendered.split(b"\0")[:-1]) == environment
    assert render_environ() == b""
    with open("/proc/self/environ", "rb") as real:
        assert real.read().endswith(b"\0")  # the same framing as the kernel's


@pytest.mark.parametrize("key, value", [("A=B", "c"), ("", "x"), ("NUL\0", "x"), ("K", "v\0")])
def test_environ_refuses_what_no_environment_can_hold(key: str, value: str) -> None:
    with pytest.raises(ValueError):
        render_environ({key: value})
