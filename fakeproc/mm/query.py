"""PROCMAP_QUERY: look one VMA up by address, filtered the way the ioctl filters it."""

from __future__ import annotations

import enum
import errno

from ..errors import SyscallError
from .mm import MemoryManager
from .vma import Vma, VmFlags


class QueryFlags(enum.Flag):
    """The ioctl's ``query_flags``: where to look, and what the VMA must be."""

    COVERING_OR_NEXT = enum.auto()
    FILE_BACKED = enum.auto()
    READABLE = enum.auto()
    WRITABLE = enum.auto()
    EXECUTABLE = enum.auto()
    SHARED = enum.auto()


#: Filter flag -> the vm_flags bit a VMA needs to pass it.
_REQUIRED_BITS = {
    QueryFlags.READABLE: VmFlags.READ,
    QueryFlags.WRITABLE: VmFlags.WRITE,
    QueryFlags.EXECUTABLE: VmFlags.EXEC,
    QueryFlags.SHARED: VmFlags.MAYSHARE,
}


def _passes(vma: Vma, flags: QueryFlags) -> bool:
    if flags & QueryFlags.FILE_BACKED and vma.file is None:
        return False
    return all(vma.flags & bit for flag, bit in _REQUIRED_BITS.items() if flags & flag)


async def query(mm: MemoryManager, addr: int, flags: QueryFlags = QueryFlags(0)) -> Vma:
    """The VMA covering ``addr`` (or, with COVERING_OR_NEXT, the first after it) that passes the filters.

    Holds ``mmap_lock`` for read and returns a copy, so the caller may look
    at it after writers have moved on.  ENOENT when no VMA qualifies.
    O(log n) per VMA skipped by a filter.
    """
    await mm.mmap_lock.acquire_read()
    try:
        vma = _find(mm, addr, flags)
        return vma.copy(vma.start, vma.end)
    finally:
        mm.mmap_lock.release_read()


def _find(mm: MemoryManager, addr: int, flags: QueryFlags) -> Vma:
    next_allowed = bool(flags & QueryFlags.COVERING_OR_NEXT)
    while True:
        found = mm.tree.find(addr)
        if found is None:
            raise SyscallError(errno.ENOENT, f"no VMA at or after {addr:#x}")
        vma = found[2]
        if vma.start > addr and not next_allowed:
            raise SyscallError(errno.ENOENT, f"no VMA covers {addr:#x}")
        if _passes(vma, flags):
            return vma
        if not next_allowed:
            raise SyscallError(errno.ENOENT, f"the VMA at {addr:#x} does not match the filters")
        addr = vma.end
