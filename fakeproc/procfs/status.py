"""/proc/<pid>/status, comm and cmdline: small text sources rendered on read."""

from __future__ import annotations

import os

from ..mm.vma import PAGE_SHIFT
from ..process import Process
from .maps import encode
from .stat import ImageLayout, VmCounters


def _kb(nbytes: int) -> str:
    return f"{nbytes >> 10:8d} kB"


def _cpu_mask(cpus: set[int]) -> str:
    """``%*pb`` of a cpumask: hex, 32 bits per comma-separated group."""
    mask = sum(1 << cpu for cpu in cpus)
    groups = [f"{(mask >> shift) & 0xFFFFFFFF:08x}" for shift in range(0, max(cpus, default=0) + 1, 32)]
    return ",".join(reversed(groups)).lstrip("0") or "0"


def _cpu_list(cpus: set[int]) -> str:
    """``%*pbl``: ranges such as ``0-3,6``."""
    ranges: list[str] = []
    ordered = sorted(cpus)
    while ordered:
        first = last = ordered.pop(0)
        while ordered and ordered[0] == last + 1:
            last = ordered.pop(0)
        ranges.append(str(first) if first == last else f"{first}-{last}")
    return ",".join(ranges)


#: The daemon's own CPUs: a simulated process may run wherever the machine lets anything run.
_CPUS = os.sched_getaffinity(0)


def render_status(process: Process) -> bytes:
    """``proc_pid_status``'s lines in the kernel's order (fs/proc/array.c, task_mem in task_mmu.c).

    The memory lines come from the same :class:`VmCounters` as stat and
    statm, so the three files always agree.  What the simulation does not
    model (signals, capabilities, scheduling) is what an idle task of
    ``process.uid`` with no pending signals shows.  Reading changes nothing:
    VmPeak and VmHWM are the address space's own high-water marks.  O(n log n)
    for n VMAs.
    """
    mm = process.mm
    pid, uid, gid = process.pid, process.uid, process.gid
    counters = VmCounters.of(mm) if process.has_mm else VmCounters()
    image = ImageLayout.of(mm) if process.has_mm else ImageLayout()
    text = image.end_code - image.start_code
    capabilities = f"{(1 << 41) - 1:016x}" if uid == 0 else "0" * 16
    lines = [
        f"Name:\t{process.comm}",
        "Umask:\t0022",
        "State:\tS (sleeping)",
        f"Tgid:\t{pid}",
        "Ngid:\t0",
        f"Pid:\t{pid}",
        f"PPid:\t{process.ppid}",
        "TracerPid:\t0",
        f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}",
        f"Gid:\t{gid}\t{gid}\t{gid}\t{gid}",
        "FDSize:\t64",
        "Groups:\t ",
        f"NStgid:\t{pid}",
        f"NSpid:\t{pid}",
        f"NSpgid:\t{pid}",
        f"NSsid:\t{pid}",
        f"Kthread:\t{0 if process.has_mm else 1}",
    ]
    if process.has_mm:
        lines += [
            f"VmPeak:\t{_kb(mm.hiwater_vm)}",
            f"VmSize:\t{_kb(counters.total << PAGE_SHIFT)}",
            f"VmLck:\t{_kb(0)}",
            f"VmPin:\t{_kb(0)}",
            f"VmHWM:\t{_kb(max(mm.hiwater_rss, counters.resident << PAGE_SHIFT))}",
            f"VmRSS:\t{_kb(counters.resident << PAGE_SHIFT)}",
            f"RssAnon:\t{_kb(counters.anonymous << PAGE_SHIFT)}",
            f"RssFile:\t{_kb(counters.file << PAGE_SHIFT)}",
            f"RssShmem:\t{_kb(counters.shmem << PAGE_SHIFT)}",
            f"VmData:\t{_kb(counters.data << PAGE_SHIFT)}",
            f"VmStk:\t{_kb(counters.stack << PAGE_SHIFT)}",
            f"VmExe:\t{_kb(text)}",
            f"VmLib:\t{_kb((counters.exec << PAGE_SHIFT) - text)}",
            f"VmPTE:\t{_kb(0)}",
            f"VmSwap:\t{_kb(0)}",
            f"HugetlbPages:\t{_kb(0)}",
        ]
    lines += [
        "CoreDumping:\t0",
        "THP_enabled:\t1",
        f"Threads:\t{process.threads}",
        "SigQ:\t0/0",
        "SigPnd:\t0000000000000000",
        "ShdPnd:\t0000000000000000",
        "SigBlk:\t0000000000000000",
        "SigIgn:\t0000000000000000",
        "SigCgt:\t0000000000000000",
        "CapInh:\t0000000000000000",
        f"CapPrm:\t{capabilities}",
        f"CapEff:\t{capabilities}",
        f"CapBnd:\t{(1 << 41) - 1:016x}",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t0",
        "Seccomp:\t0",
        "Seccomp_filters:\t0",
        f"Cpus_allowed:\t{_cpu_mask(_CPUS)}",
        f"Cpus_allowed_list:\t{_cpu_list(_CPUS)}",
        "Mems_allowed:\t1",
        "Mems_allowed_list:\t0",
        "voluntary_ctxt_switches:\t0",
        "nonvoluntary_ctxt_switches:\t0",
    ]
    return encode("\n".join(lines) + "\n")


def render_comm(process: Process) -> bytes:
    return encode(f"{process.comm}\n")


def render_cmdline(process: Process) -> bytes:
    return b"".join(encode(arg) + b"\0" for arg in process.cmdline)
