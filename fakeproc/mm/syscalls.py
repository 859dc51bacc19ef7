"""mmap, munmap, mprotect, mremap and page faults: argument checks, then one transaction each.

Each syscall checks its arguments in the kernel's order, so every failure has
the real syscall's errno, then takes ``mmap_lock`` for write and applies its
change through :class:`~.transaction.Transaction`.  The rules (merging,
anon_vma reuse, VM_ACCOUNT, error order, max_map_count) follow Linux 6.18 as
measured in tests/kdiff/KERNEL_FACTS.md; the function names in the
docstrings are the kernel's.
"""

from __future__ import annotations

import enum
import errno

from ..errors import SyscallError
from .mm import TASK_SIZE, MemoryManager
from .placement import HUGE_PAGE_SIZE, get_unmapped_area, huge_aligned_area, in_task_range, mmap_address, page_align
from .transaction import Transaction
from .vma import (
    MAY_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_MASK,
    VM_ACCOUNT,
    VM_DONTEXPAND,
    VM_GROWSDOWN,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_NORESERVE,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    FileKind,
    MappedFile,
    Vma,
    VmFlags,
)


class MapFlags(enum.Flag):
    PRIVATE = enum.auto()
    SHARED = enum.auto()
    ANONYMOUS = enum.auto()
    FIXED = enum.auto()
    FIXED_NOREPLACE = enum.auto()
    POPULATE = enum.auto()
    GROWSDOWN = enum.auto()
    NORESERVE = enum.auto()


#: MapFlags' bits as plain ints, which mmap tests instead of the enum (as the model keeps vm_flags).
MAP_PRIVATE = MapFlags.PRIVATE.value
MAP_SHARED = MapFlags.SHARED.value
MAP_ANONYMOUS = MapFlags.ANONYMOUS.value
MAP_FIXED = MapFlags.FIXED.value
MAP_FIXED_NOREPLACE = MapFlags.FIXED_NOREPLACE.value
MAP_POPULATE = MapFlags.POPULATE.value
MAP_GROWSDOWN = MapFlags.GROWSDOWN.value
MAP_NORESERVE = MapFlags.NORESERVE.value


class MremapFlags(enum.Flag):
    NONE = 0
    MAYMOVE = enum.auto()
    FIXED = enum.auto()
    DONTUNMAP = enum.auto()


#: Mappings mremap may neither grow nor DONTUNMAP.
UNEXPANDABLE = VM_DONTEXPAND | VM_PFNMAP
#: Shared anonymous memory is a deleted shmem file, as maps shows it.
SHMEM_PATH = "/dev/zero (deleted)"
_ULONG = (1 << 64) - 1
#: fault_around_bytes: a read fault in the page cache maps the cached pages of the aligned block around it.
FAULT_AROUND_BYTES = 0x10000


# --------------------------------------------------------------------------
# mmap


def _round_hint(mm: MemoryManager, hint: int) -> int:
    """``round_hint_to_min``."""
    hint &= ~(PAGE_SIZE - 1)
    floor = page_align(mm.limits.mmap_min_addr)
    return floor if 0 < hint < floor else hint


def _place(mm: MemoryManager, addr: int, length: int, flags: int, file: MappedFile | None, offset: int) -> int:
    """``__get_unmapped_area``: where the mapping goes, 2 MiB aligned for large private anonymous memory."""
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        return mmap_address(mm, addr, length, fixed=True)
    addr = _round_hint(mm, addr)
    huge = mm.limits.thp_align and not addr and file is None and not flags & MAP_SHARED
    if huge and length % HUGE_PAGE_SIZE == 0:
        return huge_aligned_area(mm, length, offset)
    return mmap_address(mm, addr, length, fixed=False)


def _file_vm_flags(vm: int, flags: int, file: MappedFile, offset: int, length: int) -> int:
    """``do_mmap``'s checks of a file mapping, in its order; the flags the open file's access mode leaves.

    A shared mapping of a file opened read-only loses VM_SHARED and
    VM_MAYWRITE (it keeps VM_MAYSHARE, so maps still shows ``s``).
    """
    if length > file.max_size or offset >> PAGE_SHIFT > (file.max_size - length) >> PAGE_SHIFT:
        raise SyscallError(errno.EOVERFLOW, f"offset {offset:#x} + length {length:#x} passes the largest size of {file.path}")
    kind = flags & (MAP_PRIVATE | MAP_SHARED)
    if kind & MAP_SHARED:  # MAP_SHARED, or MAP_SHARED_VALIDATE (private and shared)
        # MAP_SHARED_VALIDATE accepts only the legacy flags: all but fixed_noreplace.
        if kind & MAP_PRIVATE and flags & MAP_FIXED_NOREPLACE:
            raise SyscallError(errno.EOPNOTSUPP, "private,shared (MAP_SHARED_VALIDATE) refuses fixed_noreplace")
        if vm & VM_WRITE and not file.writable:
            raise SyscallError(errno.EACCES, f"{file.path} is not open for writing: no writable shared mapping")
        vm |= VM_SHARED | VM_MAYSHARE
        if not file.writable:
            vm &= ~(VM_SHARED | VM_MAYWRITE)
    elif kind != MAP_PRIVATE:
        raise SyscallError(errno.EINVAL, "one of private and shared is required")
    if not file.readable:
        raise SyscallError(errno.EACCES, f"{file.path} is not open for reading")
    if file.kind is FileKind.UNMAPPABLE:
        raise SyscallError(errno.ENODEV, f"{file.path} cannot be mapped (not a regular file or /dev/zero)")
    if vm & VM_GROWSDOWN:
        raise SyscallError(errno.EINVAL, "growsdown needs a private anonymous mapping")
    return vm


def _vm_flags(prot: int, flags: int, file: MappedFile | None, offset: int, length: int) -> int:
    """The new VMA's flags, after the checks of the ``MAP_TYPE`` switch of ``do_mmap``."""
    vm = prot | MAY_MASK
    if flags & MAP_GROWSDOWN:
        vm |= VM_GROWSDOWN
    if flags & MAP_NORESERVE:
        vm |= VM_NORESERVE
    kind = flags & (MAP_PRIVATE | MAP_SHARED)
    if file is not None:
        vm = _file_vm_flags(vm, flags, file, offset, length)
    elif kind == MAP_SHARED:
        if vm & VM_GROWSDOWN:
            raise SyscallError(errno.EINVAL, "growsdown needs a private anonymous mapping")
        vm |= VM_SHARED | VM_MAYSHARE
    elif kind != MAP_PRIVATE:
        raise SyscallError(errno.EINVAL, "anonymous memory needs exactly one of private and shared")
    if vm & (VM_NORESERVE | VM_SHARED | VM_WRITE) == VM_WRITE:
        vm |= VM_ACCOUNT
    return vm


def _backing(
    mm: MemoryManager, addr: int, length: int, vm_flags: int, file: MappedFile | None, offset: int
) -> tuple[MappedFile | None, int]:
    """(file, pgoff) of a new mapping.

    Shared anonymous memory is a fresh shmem file at pgoff 0; so is
    ``/dev/zero`` mapped with VM_SHARED (``shmem_zero_setup``), which keeps
    the mmap offset.
    """
    if file is None:
        return (_new_shmem(mm, length), 0) if vm_flags & VM_SHARED else (None, addr >> PAGE_SHIFT)
    if file.kind is FileKind.ZERO and vm_flags & VM_SHARED:
        return _new_shmem(mm, length), offset >> PAGE_SHIFT
    return file, offset >> PAGE_SHIFT


def _new_shmem(mm: MemoryManager, length: int) -> MappedFile:
    """The shmem file ``shmem_zero_setup`` makes: as long as the mapping, so what lies past it is SIGBUS."""
    return MappedFile(SHMEM_PATH, 0, 1, mm.allocate_shmem_inode(), FileKind.SHMEM, size=length)


def check_mmap_offset(offset: int) -> None:
    """mmap's first check, made before the fd is looked up: the offset is page aligned."""
    if offset < 0 or offset % PAGE_SIZE:
        raise SyscallError(errno.EINVAL, "offset is not page aligned")


async def mmap(
    mm: MemoryManager,
    addr: int,
    length: int,
    prot: int,
    flags: MapFlags,
    file: MappedFile | None = None,
    offset: int = 0,
    name: str | None = None,
) -> int:
    """``mmap(2)``.  Returns the mapped address.

    ``prot`` is READ, WRITE and EXEC of :class:`VmFlags` (or the same bits
    as a plain int).  ``file`` is the open file to map (ignored with
    ``anonymous``).  Errors
    in the kernel's order: EINVAL (unaligned offset), EBADF (no file),
    EINVAL (length 0), ENOMEM (map_count above the limit), the address
    checks, EEXIST (fixed_noreplace), then the file's (EOVERFLOW, EACCES,
    ENODEV) and the map type.
    """
    check_mmap_offset(offset)
    map_flags = flags.value
    if map_flags & MAP_ANONYMOUS:
        file = None
    elif file is None:
        raise SyscallError(errno.EBADF, "a file mapping needs an open file (fd=N or PATH) or the anonymous flag")
    if length == 0:
        raise SyscallError(errno.EINVAL, "length is 0")
    length = page_align(length)
    if length > _ULONG:
        raise SyscallError(errno.ENOMEM, "length exceeds the address space")
    async with mm.write_locked():
        if mm.map_count > mm.limits.max_map_count:
            raise SyscallError(errno.ENOMEM, f"more than max_map_count ({mm.limits.max_map_count}) VMAs")
        addr = _place(mm, addr, length, map_flags, file, offset)
        if map_flags & MAP_FIXED_NOREPLACE and mm.tree.overlapping(addr, addr + length):
            raise SyscallError(errno.EEXIST, f"{addr:#x}-{addr + length:#x} is already mapped")
        vm_flags = _vm_flags(int(prot), map_flags, file, offset, length)
        backing, pgoff = _backing(mm, addr, length, vm_flags, file, offset)
        tx = Transaction(mm)
        vma = await tx.map_new_range(Vma(addr, addr + length, vm_flags, pgoff, backing, name))
        if map_flags & MAP_POPULATE:
            await _fault(tx, vma, addr, addr + length)  # populate stops quietly where the file ends
    return addr


# --------------------------------------------------------------------------
# munmap


def _check_unmap_range(start: int, length: int) -> int:
    """``do_vmi_munmap``'s argument checks; returns the page-aligned end."""
    if start % PAGE_SIZE or start > TASK_SIZE or length > TASK_SIZE - start:
        raise SyscallError(errno.EINVAL, "address is not page aligned or the range is beyond the address space")
    end = start + page_align(length)
    if end == start:
        raise SyscallError(errno.EINVAL, "length is 0")
    return end


async def munmap(mm: MemoryManager, addr: int, length: int) -> None:
    """``munmap(2)``: splits at both ends; the range may cover VMAs and holes."""
    end = _check_unmap_range(addr, length)
    async with mm.write_locked():
        await Transaction(mm).unmap(addr, end)


# --------------------------------------------------------------------------
# mprotect


def _mprotect_flags(vma: Vma, prot: int) -> int:
    """The VMA's flags after mprotect, VM_ACCOUNT included (``mprotect_fixup``)."""
    old = vma.flags
    new = (old & ~PROT_MASK) | prot
    if new == old:
        return old
    if new & VM_WRITE:
        if not old & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE):
            new |= VM_ACCOUNT
    elif old & VM_ACCOUNT and vma.is_anonymous and vma.anon_vma is None:
        new &= ~VM_ACCOUNT
    return new


async def mprotect(mm: MemoryManager, addr: int, length: int, prot: int) -> None:
    """``mprotect(2)``.  A hole inside the range fails with ENOMEM after the part before it changed.

    ``prot`` is READ, WRITE and EXEC of :class:`VmFlags` (or the same bits as a plain int).
    """
    prot = int(prot)
    if addr < 0 or addr % PAGE_SIZE:
        raise SyscallError(errno.EINVAL, "address is not page aligned")
    if length < 0:
        raise SyscallError(errno.ENOMEM, "negative length")
    if length == 0:
        return
    end = addr + page_align(length)
    if end > _ULONG:
        raise SyscallError(errno.ENOMEM, "range wraps around")
    async with mm.write_locked():
        tx = Transaction(mm)
        position = addr
        while position < end:
            vma = mm.tree.lookup(position)
            if vma is None:
                raise SyscallError(errno.ENOMEM, f"{position:#x} is not mapped")
            new_flags = _mprotect_flags(vma, prot)
            if (new_flags & PROT_MASK) & ~(new_flags >> 4):
                raise SyscallError(errno.EACCES, "protection not allowed for this mapping")
            piece_end = min(vma.end, end)
            if new_flags != vma.flags:
                await tx.modify_flags(vma, position, piece_end, new_flags)
            position = piece_end


# --------------------------------------------------------------------------
# mremap


def _check_remap_params(
    mm: MemoryManager, old: int, old_len: int, new_len: int, flags: MremapFlags, new_addr: int
) -> None:
    """``check_mremap_params``: everything decided before the VMA is looked up."""
    if old % PAGE_SIZE:
        raise SyscallError(errno.EINVAL, "old address is not page aligned")
    if new_len == 0 or new_len > TASK_SIZE:
        raise SyscallError(errno.EINVAL, "new length is 0 or beyond the address space")
    if not flags & (MremapFlags.FIXED | MremapFlags.DONTUNMAP):
        return
    if new_addr > TASK_SIZE - new_len or new_addr % PAGE_SIZE:
        raise SyscallError(errno.EINVAL, "new address is not page aligned or beyond the address space")
    if not flags & MremapFlags.MAYMOVE:
        raise SyscallError(errno.EINVAL, "fixed and dontunmap need maymove")
    if flags & MremapFlags.DONTUNMAP and old_len != new_len:
        raise SyscallError(errno.EINVAL, "dontunmap cannot resize")
    if new_addr < old + old_len and old < new_addr + new_len:
        raise SyscallError(errno.EINVAL, "old and new ranges overlap")
    if mm.map_count + 2 >= mm.limits.max_map_count - 3:
        raise SyscallError(errno.ENOMEM, f"a move could exceed max_map_count ({mm.limits.max_map_count})")


def _check_remap_vma(vma: Vma | None, old: int, old_len: int, new_len: int, flags: MremapFlags) -> Vma:
    """``check_prep_vma``: what the VMA at OLD allows."""
    if vma is None:
        raise SyscallError(errno.EFAULT, f"{old:#x} is not mapped")
    if new_len <= old_len and not flags & (MremapFlags.FIXED | MremapFlags.DONTUNMAP):
        return vma  # stays in place: any range may shrink
    if old_len == 0 and not vma.flags & (VM_SHARED | VM_MAYSHARE):
        raise SyscallError(errno.EINVAL, "old length 0 duplicates only shared mappings")
    if flags & MremapFlags.DONTUNMAP and vma.flags & UNEXPANDABLE:
        raise SyscallError(errno.EINVAL, "dontunmap of a special mapping")
    if min(old_len, new_len) > vma.end - old:
        raise SyscallError(errno.EFAULT, "old range spans more than one mapping")
    if new_len != old_len and vma.flags & UNEXPANDABLE:
        raise SyscallError(errno.EFAULT, "special mapping cannot be resized")
    return vma


async def mremap(
    mm: MemoryManager,
    old: int,
    old_len: int,
    new_len: int,
    flags: MremapFlags = MremapFlags.NONE,
    new_addr: int = 0,
) -> int:
    """``mremap(2)``: shrink, grow in place, move (MAYMOVE, FIXED), DONTUNMAP, duplicate (old_len 0).

    FIXED with equal lengths is a pure move, which may span several VMAs
    and holes (Linux 6.17+).
    """
    if old < 0 or old_len < 0 or new_len < 0 or new_addr < 0:
        raise SyscallError(errno.EINVAL, "negative argument")
    old_len, new_len = page_align(old_len) & _ULONG, page_align(new_len) & _ULONG
    _check_remap_params(mm, old, old_len, new_len, flags, new_addr)
    async with mm.write_locked():
        tx = Transaction(mm)
        if flags & MremapFlags.FIXED and old_len == new_len:
            return await _remap_move(tx, old, old_len, new_addr, flags)
        vma = _check_remap_vma(mm.tree.lookup(old), old, old_len, new_len, flags)
        if flags & (MremapFlags.FIXED | MremapFlags.DONTUNMAP):
            return await _remap_to(tx, old, old_len, new_len, new_addr, flags)
        return await _remap_at(tx, vma, old, old_len, new_len, flags)


async def _remap_at(tx: Transaction, vma: Vma, old: int, old_len: int, new_len: int, flags: MremapFlags) -> int:
    """``mremap_at``: same size, shrink, or grow (in place, else moved if allowed)."""
    if new_len == old_len:
        return old
    if new_len < old_len:
        await _shrink(tx, old, old_len, new_len)
        return old
    if old + old_len == vma.end and _expandable(tx.mm, vma, new_len - old_len):
        extension = vma.copy(vma.end, vma.end + new_len - old_len)
        await tx.map_new_range(extension)
        return old
    if not flags & MremapFlags.MAYMOVE:
        raise SyscallError(errno.ENOMEM, "cannot grow in place and maymove not given")
    return await _move_vma(tx, old, old_len, new_len, get_unmapped_area(tx.mm, 0, new_len), flags)


def _expandable(mm: MemoryManager, vma: Vma, delta: int) -> bool:
    """``vma_expandable``: the space after the VMA is free and inside the address space."""
    end = vma.end + delta
    return in_task_range(vma.start, end - vma.start) and not mm.tree.overlapping(vma.end, end)


async def _shrink(tx: Transaction, old: int, old_len: int, new_len: int) -> None:
    """``shrink_vma``: unmap the tail, which may cover several VMAs and holes."""
    start = old + new_len
    await tx.unmap(start, _check_unmap_range(start, old_len - new_len))


async def _remap_to(
    tx: Transaction, old: int, old_len: int, new_len: int, new_addr: int, flags: MremapFlags
) -> int:
    """``mremap_to``: clear a FIXED destination, shrink first if asked, then move."""
    mm = tx.mm
    if flags & MremapFlags.FIXED:
        await tx.unmap(new_addr, new_addr + new_len)
        if mm.tree.lookup(old) is None:
            raise SyscallError(errno.EFAULT, f"{old:#x} was unmapped by the destination")
    else:
        new_addr = get_unmapped_area(mm, new_addr, new_len)
    if new_len < old_len:
        await _shrink(tx, old, old_len, new_len)
        old_len = new_len
    return await _move_vma(tx, old, old_len, new_len, new_addr, flags)


async def _remap_move(tx: Transaction, start: int, length: int, new_addr: int, flags: MremapFlags) -> int:
    """``remap_move``: move every VMA piece of ``[start, start+length)``, keeping the holes between them.

    OLD itself must be mapped (EFAULT).  Each piece goes to ``new_addr``
    plus its distance from ``start``; destination parts facing holes keep
    what is there.  The walk resumes at the end the last VMA had when it was
    found, since a moved piece may merge into a VMA of the range.  When the
    range spans more than one VMA, a private ``/dev/zero`` piece is EFAULT
    where the walk reaches it, the pieces before it already moved (measured
    on 6.18: KERNEL_FACTS.md 10.15).
    """
    tree, end = tx.mm.tree, start + length
    position, target, last_end = start, new_addr, start
    result: int | None = None
    spans_several = False
    while position < end and (found := tree.find(position)) is not None and found[0] < end:
        vma_start, vma_end, vma = found
        if result is None and vma_start > start:
            raise SyscallError(errno.EFAULT, f"{start:#x} is not mapped")
        spans_several = spans_several or vma_end < end
        if spans_several and vma.file is not None and vma.file.kind is FileKind.ZERO and not vma.flags & VM_MAYSHARE:
            raise SyscallError(errno.EFAULT, f"a private /dev/zero mapping at {vma_start:#x} cannot move with others")
        addr = max(vma_start, start)
        piece = min(end, vma_end) - addr
        _check_remap_vma(vma, addr, piece, piece, flags)
        gap = vma_start - last_end if result is not None else 0
        moved = await _remap_to(tx, addr, piece, piece, target + gap, flags)
        result = moved if result is None else result
        target, position, last_end = moved + piece, vma_end, vma_end
    if result is None:
        raise SyscallError(errno.EFAULT, f"{start:#x} is not mapped")
    return result


async def _move_vma(tx: Transaction, old: int, old_len: int, new_len: int, new_addr: int, flags: MremapFlags) -> int:
    """``move_vma``: copy the VMA to ``new_addr`` (merging there), move the pages, unmap the source.

    A never-faulted anonymous VMA takes ``pgoff = new_addr`` (``copy_vma``)
    so that it merges there like a fresh mapping; one with an anon_vma keeps
    its pgoff and anon_vma.  With DONTUNMAP the source stays as it is
    (VM_ACCOUNT included); moving all of it drops its anon_vma.
    """
    mm = tx.mm
    if mm.map_count >= mm.limits.max_map_count - 3:
        raise SyscallError(errno.ENOMEM, f"a move could exceed max_map_count ({mm.limits.max_map_count})")
    vma = mm.tree.lookup(old)
    assert vma is not None
    copy = vma.copy(new_addr, new_addr + new_len)
    # A never-faulted anonymous VMA takes its new address as pgoff, so it can merge there.
    fresh_anon = vma.is_anonymous and vma.anon_vma is None
    copy.set_range(copy.start, copy.end, new_addr >> PAGE_SHIFT if fresh_anon else vma.pgoff_at(old))
    moved = mm.resident.overlapping(old, old + old_len)
    new = await tx.map_new_range(copy)
    mm.drop_resident(old, old + old_len)
    for start, end in moved:
        mm.add_resident(start - old + new_addr, end - old + new_addr)
    if flags & MremapFlags.DONTUNMAP:
        source = mm.tree.lookup(old)
        if source is not None and source is not new and (source.start, source.end) == (old, old + old_len):
            await tx.drop_anon_vma(source)
    elif old_len:
        await tx.unmap(old, old + old_len)
    return new_addr


# --------------------------------------------------------------------------
# page faults


def _end_of_file(vma: Vma) -> int | None:
    """The address of the VMA's first page wholly past the end of its file (maybe beyond the VMA); None if none."""
    file = vma.file
    if file is None or file.pages is None:
        return None
    return vma.start + max(file.pages - vma.pgoff, 0) * PAGE_SIZE


async def _fault(tx: Transaction, vma: Vma, start: int, end: int) -> bool:
    """Fault ``[start, end)`` of ``vma`` in, page by page; False if it stopped at a page past the file's end (SIGBUS).

    A write fault maps its own page.  A read fault in the page cache maps
    the cached pages of its aligned ``FAULT_AROUND_BYTES`` block too, within
    the VMA and never past the end of the file (``do_fault_around``).
    """
    if not vma.flags & (VM_READ | VM_WRITE):
        return True
    end_of_file = _end_of_file(vma)
    stop = end if end_of_file is None else min(end, max(end_of_file, start))
    low, high = start, stop
    reads_page_cache = vma.file is not None and vma.file.kind is FileKind.REGULAR and not vma.flags & VM_WRITE
    if reads_page_cache and stop > start:
        low = max(vma.start, start & ~(FAULT_AROUND_BYTES - 1))
        block_end = -(-stop // FAULT_AROUND_BYTES) * FAULT_AROUND_BYTES
        high = min(vma.end, block_end if end_of_file is None else min(block_end, end_of_file))
    await tx.fault_in(vma, low, high)
    return stop == end


async def touch(mm: MemoryManager, addr: int, length: int) -> None:
    """Fault in every page of ``[addr, addr+length)`` (a write where the VMA allows it).

    EFAULT for a hole, and for a page of a file mapping wholly past the end
    of the file (the kernel's SIGBUS); the pages before it stay faulted in.
    """
    if addr < 0 or addr % PAGE_SIZE:
        raise SyscallError(errno.EINVAL, "address is not page aligned")
    if length <= 0:
        raise SyscallError(errno.EINVAL, "length is 0")
    end = addr + page_align(length)
    async with mm.write_locked():
        position = addr
        pieces = []
        for start, range_end, vma in mm.tree.overlapping(addr, end):
            if start > position:
                break
            pieces.append((vma, max(start, addr), min(range_end, end)))
            position = range_end
        if position < end:
            raise SyscallError(errno.EFAULT, f"{position:#x} is not mapped")
        tx = Transaction(mm)
        for vma, start, piece_end in pieces:
            if not await _fault(tx, vma, start, piece_end):
                assert vma.file is not None
                raise SyscallError(errno.EFAULT, f"past the end of {vma.file.path} (SIGBUS)")
