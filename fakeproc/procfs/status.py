"""/proc/<pid>/status, comm and cmdline: small text sources rendered on read."""

from __future__ import annotations

from ..mm.vma import VmFlags
from ..process import Process
from .maps import encode


def _kb(nbytes: int) -> str:
    return f"{nbytes >> 10:8d} kB"


def render_status(process: Process) -> bytes:
    """The fields of ``proc_pid_status`` that the simulation knows, in the kernel's format.

    Reading changes nothing: VmPeak and VmHWM are the address space's own
    high-water marks.  O(n) for the VmData/VmStk/VmExe split.
    """
    mm = process.mm
    vm_data = vm_stack = vm_exec = 0
    for start, end, vma in mm.tree:
        size = end - start
        flags = vma.flags
        if flags & VmFlags.GROWSDOWN or vma.name == "[stack]":
            vm_stack += size
        elif flags & VmFlags.EXEC and flags & VmFlags.WRITE == 0 and vma.file is not None:
            vm_exec += size
        elif flags & (VmFlags.WRITE | VmFlags.SHARED) == VmFlags.WRITE:
            vm_data += size
    uid, gid = process.uid, process.gid
    lines = [
        f"Name:\t{process.comm}",
        "Umask:\t0022",
        "State:\tS (sleeping)",
        f"Tgid:\t{process.pid}",
        "Ngid:\t0",
        f"Pid:\t{process.pid}",
        f"PPid:\t{process.ppid}",
        "TracerPid:\t0",
        f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}",
        f"Gid:\t{gid}\t{gid}\t{gid}\t{gid}",
        "FDSize:\t64",
        "Groups:\t ",
        f"VmPeak:\t{_kb(mm.hiwater_vm)}",
        f"VmSize:\t{_kb(mm.total_vm)}",
        f"VmLck:\t{_kb(0)}",
        f"VmPin:\t{_kb(0)}",
        f"VmHWM:\t{_kb(mm.hiwater_rss)}",
        f"VmRSS:\t{_kb(mm.rss)}",
        f"VmData:\t{_kb(vm_data)}",
        f"VmStk:\t{_kb(vm_stack)}",
        f"VmExe:\t{_kb(vm_exec)}",
        f"VmSwap:\t{_kb(0)}",
        f"Threads:\t{process.threads}",
    ]
    return encode("\n".join(lines) + "\n")


def render_comm(process: Process) -> bytes:
    return encode(f"{process.comm}\n")


def render_cmdline(process: Process) -> bytes:
    return b"".join(encode(arg) + b"\0" for arg in process.cmdline)
