"""/proc/<pid>/smaps and smaps_rollup.

smaps walks page tables in the kernel, which is not safe under a VMA lock, so
it holds ``mmap_lock`` for read across each page whatever the process's lock
mode.  Residency comes from the address space's faulted-in pages; every
simulated page is mapped once, so Pss equals Rss.
"""

from __future__ import annotations

import errno
import functools
from dataclasses import dataclass, fields

from ..errors import SyscallError
from ..mm.mm import MemoryManager
from ..mm.vma import FileKind, Vma, VmFlags
from ..mm.walk import LockMode
from ..process import Process
from ..seqfile import PageObserver
from .maps import GATE_START, NAME_COLUMN, VmaIterator, encode, format_maps_line

#: VmFlags mnemonics in bit order, as ``show_smap_vma_flags`` prints them.
_MNEMONICS = (
    (VmFlags.READ, "rd"),
    (VmFlags.WRITE, "wr"),
    (VmFlags.EXEC, "ex"),
    (VmFlags.SHARED, "sh"),
    (VmFlags.MAYREAD, "mr"),
    (VmFlags.MAYWRITE, "mw"),
    (VmFlags.MAYEXEC, "me"),
    (VmFlags.MAYSHARE, "ms"),
    (VmFlags.GROWSDOWN, "gd"),
    (VmFlags.PFNMAP, "pf"),
    (VmFlags.IO, "io"),
    (VmFlags.DONTEXPAND, "de"),
    (VmFlags.ACCOUNT, "ac"),
    (VmFlags.NORESERVE, "nr"),
    (VmFlags.DONTDUMP, "dd"),
    (VmFlags.SOFTDIRTY, "sd"),
)


@dataclass
class MemoryUsage:
    """The kB counters of one smaps record (or of the rollup), in bytes."""

    rss: int = 0
    dirty: int = 0
    anonymous: int = 0
    file: int = 0
    shmem: int = 0

    def add(self, other: MemoryUsage) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def vma_usage(mm: MemoryManager, vma: Vma) -> MemoryUsage:
    """Residency of one VMA: written private pages are dirty anonymous memory."""
    if vma.start == GATE_START:
        return MemoryUsage()
    rss = mm.resident_pages(vma.start, vma.end) << 12
    shared = bool(vma.flags & VmFlags.MAYSHARE)
    if vma.anon_vma is not None or (vma.file is None and not shared):
        return MemoryUsage(rss=rss, dirty=rss, anonymous=rss)
    if shared and vma.file is not None and vma.file.kind is FileKind.SHMEM:
        return MemoryUsage(rss=rss, dirty=rss, shmem=rss)
    return MemoryUsage(rss=rss, file=rss)


@functools.cache
def host_has_protection_keys() -> bool:
    """Whether the host kernel prints ``ProtectionKey`` in smaps (x86 ``arch_pkeys_enabled``: the ospke CPU flag).

    smaps follows the machine it is compared with; read once, the CPU cannot change under a running daemon.
    """
    try:
        with open("/proc/cpuinfo", "rb") as cpuinfo:
            return any(line.startswith(b"flags") and b" ospke" in line for line in cpuinfo)
    except OSError:
        return False


def _kb(label: str, nbytes: int) -> str:
    return f"{label:<16}{nbytes >> 10:8d} kB\n"


def _usage_lines(usage: MemoryUsage, rollup: bool) -> list[str]:
    clean = usage.rss - usage.dirty
    lines = [_kb("Rss:", usage.rss), _kb("Pss:", usage.rss), _kb("Pss_Dirty:", usage.dirty)]
    if rollup:
        lines += [_kb("Pss_Anon:", usage.anonymous), _kb("Pss_File:", usage.file), _kb("Pss_Shmem:", usage.shmem)]
    lines += [
        _kb("Shared_Clean:", 0),
        _kb("Shared_Dirty:", 0),
        _kb("Private_Clean:", clean),
        _kb("Private_Dirty:", usage.dirty),
        _kb("Referenced:", usage.rss),
        _kb("Anonymous:", usage.anonymous),
        _kb("KSM:", 0),
        _kb("LazyFree:", 0),
        _kb("AnonHugePages:", 0),
        _kb("ShmemPmdMapped:", 0),
        _kb("FilePmdMapped:", 0),
        _kb("Shared_Hugetlb:", 0),
        _kb("Private_Hugetlb:", 0),
        _kb("Swap:", 0),
        _kb("SwapPss:", 0),
        _kb("Locked:", 0),
    ]
    return lines


def format_smaps_record(mm: MemoryManager, vma: Vma) -> str:
    """The header line and every field of one VMA (``show_smap``)."""
    size = vma.end - vma.start
    lines = [
        format_maps_line(vma),
        _kb("Size:", size),
        _kb("KernelPageSize:", 4096),
        _kb("MMUPageSize:", 4096),
        *_usage_lines(vma_usage(mm, vma), rollup=False),
        f"THPeligible:    {0:8d}\n",
        *([f"ProtectionKey:  {0:8d}\n"] if host_has_protection_keys() else []),
        "VmFlags: " + "".join(f"{name} " for bit, name in _MNEMONICS if vma.flags & bit) + "\n",
    ]
    return "".join(lines)


class SmapsIterator(VmaIterator):
    """SeqIterator for /proc/<pid>/smaps: the maps iterator, always under ``mmap_lock``."""

    def __init__(self, process: Process, *, observer: PageObserver | None = None) -> None:
        super().__init__(process, LockMode.MMAP, observer=observer)

    def show(self, vma: Vma) -> bytes:
        text = encode(format_smaps_record(self.mm, vma))
        self.page_bytes += len(text)
        return text


class SmapsRollupIterator:
    """SeqIterator for /proc/<pid>/smaps_rollup: one record summing every VMA."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self._locked = False

    async def start(self, index: int) -> tuple[MemoryManager | None, int]:
        if index:
            return None, index
        mm = self.process.mm
        self.process.check_alive()
        if not self.process.has_mm:
            # A kernel thread: the kernel refuses smaps_rollup outright.
            raise SyscallError(errno.ESRCH, f"process {self.process.pid} has no address space")
        await mm.mmap_lock.acquire_read()
        self._locked = True
        return mm, 0

    async def next(self, record: MemoryManager, index: int) -> tuple[None, int]:
        return None, index + 1

    def show(self, mm: MemoryManager) -> bytes:
        total = MemoryUsage()
        first = last = 0
        for start, end, vma in mm.tree:
            if not first:
                first = start
            last = end
            total.add(vma_usage(mm, vma))
        head = f"{first:08x}-{last:08x} ---p 00000000 00:00 0 "
        text = f"{head:<{NAME_COLUMN - 1}} [rollup]\n" + "".join(_usage_lines(total, rollup=True))
        return encode(text)

    def stop(self) -> None:
        if self._locked:
            self._locked = False
            self.process.mm.mmap_lock.release_read()
