"""/proc/<pid>/stat, statm and environ, rendered from the simulated address space.

Field by field they follow the kernel's ``do_task_stat`` and ``proc_pid_statm``
(fs/proc/array.c) and proc(5).  What the simulation does not model (times,
faults, signals, scheduling) is what an idle, never-scheduled task shows.
The ELF loader's ``mm->start_code`` and friends are derived from the layout:
the binary's text is the lowest executable file-backed VMA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from dataclasses import dataclass

from ..mm.mm import MemoryManager
from ..mm.vma import PAGE_SHIFT, PAGE_SIZE, Vma, VmFlags
from ..process import Process
from .maps import encode
from .smaps import MemoryUsage, vma_usage

#: ``PF_KTHREAD``: procps and psutil tell kernel threads from processes by this bit.
PF_KTHREAD = 0x00200000
#: ``PF_RANDOMIZE``: set on every ordinary process of a system with ASLR.
PF_RANDOMIZE = 0x00400000
#: ``RLIM_INFINITY`` as the unsigned long the kernel prints for rsslim.
RLIM_INFINITY = (1 << 64) - 1
SIGCHLD = 17
#: Priority the kernel reports for SCHED_OTHER at nice 0 (``task_prio``).
DEFAULT_PRIORITY = 20


@dataclass(frozen=True)
class VmCounters:
    """The mm's page counters the kernel keeps at mmap time, recomputed from the VMAs.

    ``total``, ``data``, ``stack`` and ``exec`` are ``total_vm``, ``data_vm``,
    ``stack_vm`` and ``exec_vm`` in pages (``vm_stat_account``); the resident
    pages are split as smaps splits them into the rss counters
    ``MM_ANONPAGES``, ``MM_FILEPAGES`` and ``MM_SHMEMPAGES``, so status,
    statm, stat and smaps always add up to the same figures.
    """

    total: int = 0
    data: int = 0
    stack: int = 0
    exec: int = 0
    anonymous: int = 0
    file: int = 0
    shmem: int = 0

    @property
    def resident(self) -> int:
        return self.anonymous + self.file + self.shmem

    @property
    def shared(self) -> int:
        """statm's shared: file and shmem pages."""
        return self.file + self.shmem

    @classmethod
    def of(cls, mm: MemoryManager) -> VmCounters:
        """Counters of ``mm`` outside any transaction.  O(n log n) for n VMAs."""
        total = data = stack = executable = 0
        usage = MemoryUsage()
        for start, end, vma in mm.tree:
            pages = (end - start) >> PAGE_SHIFT
            total += pages
            flags = vma.flags
            # The kernel's is_stack_mapping / is_exec_mapping / is_data_mapping, in that order.
            if flags & VmFlags.GROWSDOWN or vma.name == "[stack]":
                stack += pages
            elif flags & (VmFlags.EXEC | VmFlags.WRITE) == VmFlags.EXEC:
                executable += pages
            elif flags & (VmFlags.WRITE | VmFlags.SHARED) == VmFlags.WRITE:
                data += pages
            usage.add(vma_usage(mm, vma))
        return cls(total, data, stack, executable, usage.anonymous >> PAGE_SHIFT, usage.file >> PAGE_SHIFT,
                   usage.shmem >> PAGE_SHIFT)


def _text_vma(vmas: Sequence[Vma]) -> Vma | None:
    """The binary's text as the ELF loader leaves it: the lowest executable file-backed VMA."""
    return next((vma for vma in vmas if vma.flags & VmFlags.EXEC and vma.file is not None), None)


def executable_path(process: Process) -> str | None:
    """What /proc/<pid>/exe names: the file of the binary's text; None without one (a kernel thread).  O(n)."""
    text = _text_vma(process.mm.vmas()) if process.has_mm else None
    return text.file.path if text is not None and text.file is not None else None


@dataclass(frozen=True)
class ImageLayout:
    """Where the loader put the binary and the heap: ``mm->start_code`` .. ``start_brk``."""

    start_code: int = 0
    end_code: int = 0
    start_data: int = 0
    end_data: int = 0
    start_brk: int = 0
    #: Where argc lies: in the top page of the stack (pmap names the VMA holding it ``[ stack ]``).
    start_stack: int = 0

    @classmethod
    def of(cls, mm: MemoryManager) -> ImageLayout:
        """Text is the lowest executable file-backed VMA; data the first writable VMA of that file after it.  O(n)."""
        vmas = mm.vmas()
        text = _text_vma(vmas)
        heap = next((vma for vma in vmas if vma.name == "[heap]"), None)
        start_brk = heap.start if heap is not None else 0
        stack = next((vma for vma in vmas if vma.name == "[stack]"), None)
        start_stack = stack.end - PAGE_SIZE if stack is not None else 0
        if text is None:
            return cls(start_brk=start_brk, start_stack=start_stack)
        data = next(
            (vma for vma in vmas if vma.start >= text.end and vma.file == text.file and vma.flags & VmFlags.WRITE),
            None,
        )
        start_data, end_data = (data.start, data.end) if data is not None else (0, 0)
        return cls(text.start, text.end, start_data, end_data, start_brk, start_stack)


def render_stat(process: Process, starttime: int = 0) -> bytes:
    """The 52 fields of ``/proc/<pid>/stat``; ``starttime`` is in clock ticks after boot.

    O(n log n) for n VMAs (the counters walk the address space once).
    """
    if process.has_mm:
        counters, image = VmCounters.of(process.mm), ImageLayout.of(process.mm)
        flags = PF_RANDOMIZE
    else:
        counters, image = VmCounters(), ImageLayout()
        flags = PF_KTHREAD
    pid = process.pid
    fields = [
        "S",  # a simulated process sleeps between the calls made on it
        process.ppid,
        pid,  # pgrp
        pid,  # session
        0,  # tty_nr: no controlling terminal
        -1,  # tpgid: no terminal, no foreground group
        flags,
        0, 0, 0, 0,  # minflt cminflt majflt cmajflt
        0, 0, 0, 0,  # utime stime cutime cstime
        DEFAULT_PRIORITY,
        0,  # nice
        process.threads,
        0,  # itrealvalue
        starttime,
        counters.total << PAGE_SHIFT,  # vsize in bytes
        counters.resident,  # rss in pages
        RLIM_INFINITY,
        image.start_code,
        image.end_code,
        image.start_stack,
        0, 0,  # kstkesp kstkeip: the kernel shows 0 for a task that is not dumping core
        0, 0, 0, 0,  # signal blocked sigignore sigcatch
        0,  # wchan: the kernel no longer reveals it
        0, 0,  # nswap cnswap
        SIGCHLD,  # exit_signal
        0, 0, 0,  # processor rt_priority policy (SCHED_OTHER)
        0, 0, 0,  # delayacct_blkio_ticks guest_time cguest_time
        image.start_data,
        image.end_data,
        image.start_brk,
        0, 0, 0, 0,  # arg_start arg_end env_start env_end
        0,  # exit_code
    ]
    # comm goes out unescaped, as in the kernel: readers split at the last ')'.
    return encode(f"{pid} ({process.comm}) " + " ".join(str(field) for field in fields) + "\n")


def render_statm(process: Process) -> bytes:
    """``size resident shared text lib data dt`` in pages (lib and dt are always 0).  O(n log n)."""
    if not process.has_mm:
        return b"0 0 0 0 0 0 0\n"
    counters, image = VmCounters.of(process.mm), ImageLayout.of(process.mm)
    text = (image.end_code - image.start_code) >> PAGE_SHIFT
    return (
        f"{counters.total} {counters.resident} {counters.shared} {text} 0 {counters.data + counters.stack} 0\n"
    ).encode()


def render_environ(environment: Mapping[str, str] = MappingProxyType({})) -> bytes:
    """``KEY=VALUE`` strings, each NUL-terminated, as they lie between env_start and env_end.  O(total size).

    A simulated process has no memory holding an environment, so the daemon
    keeps one beside it and passes it here; the default is an empty one.
    Raises ValueError for a key that is empty or holds ``=`` or NUL, or a
    value holding NUL: no real environment string can.
    """
    strings = []
    for key, value in environment.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise ValueError(f"{key!r}={value!r} cannot be an environment string")
        strings.append(encode(f"{key}={value}") + b"\0")
    return b"".join(strings)
