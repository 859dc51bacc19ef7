"""mmap, munmap, mprotect, mremap and page faults as step-wise write transactions.

Each syscall takes ``mmap_lock`` for write, write-locks the VMAs it changes,
and applies its change in the kernel's order, with a preemption point between
steps: a VMA's fields and the tree are updated separately, a split first
shrinks the old VMA and then stores the new one, an unmap first isolates the
range from the tree and then detaches the VMAs.  Argument checks come first,
in the kernel's order, so every failure has the real syscall's errno.
"""

from __future__ import annotations

import enum
import errno
import itertools

from ..errors import SyscallError
from .mm import MAX_MAP_COUNT, MMAP_MIN_ADDR, TASK_SIZE, MemoryManager
from .vma import MAY_MASK, PAGE_SHIFT, PAGE_SIZE, PROT_MASK, AnonVma, MappedFile, Vma, VmFlags


class MapFlags(enum.Flag):
    PRIVATE = enum.auto()
    SHARED = enum.auto()
    ANONYMOUS = enum.auto()
    FIXED = enum.auto()
    FIXED_NOREPLACE = enum.auto()
    POPULATE = enum.auto()
    GROWSDOWN = enum.auto()
    NORESERVE = enum.auto()


class MremapFlags(enum.Flag):
    NONE = 0
    MAYMOVE = enum.auto()
    FIXED = enum.auto()
    DONTUNMAP = enum.auto()


#: Flags that never stop a merge (the kernel's VM_IGNORE_MERGE).
IGNORE_MERGE = VmFlags.SOFTDIRTY
#: Flags that may differ between VMAs sharing an anon_vma (anon_vma_compatible).
ANON_COMPAT_IGNORE = PROT_MASK | VmFlags.SOFTDIRTY
#: Special mappings that never merge.
UNMERGEABLE = VmFlags.DONTEXPAND | VmFlags.PFNMAP | VmFlags.IO

_shmem_inodes = itertools.count(0x1000)


def page_align(length: int) -> int:
    return (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def _fail(code: int, message: str) -> SyscallError:
    return SyscallError(code, message)


def _same_kind(a: Vma, b: Vma) -> bool:
    """Equal except for range, pgoff and anon_vma (``is_mergeable_vma``)."""
    return (
        (a.flags ^ b.flags) & ~IGNORE_MERGE == 0
        and not a.flags & UNMERGEABLE
        and a.file == b.file
        and a.name == b.name
    )


def _anon_compatible(a: AnonVma | None, b: AnonVma | None) -> bool:
    return a is None or b is None or a is b


def can_merge(low: Vma, high: Vma) -> bool:
    """Could ``low`` (ending where ``high`` starts) and ``high`` be one VMA?"""
    return (
        _same_kind(low, high)
        and _anon_compatible(low.anon_vma, high.anon_vma)
        and low.pgoff + low.pages == high.pgoff
    )


class Transaction:
    """The steps of one write transaction.  Each step ends at a preemption point."""

    def __init__(self, mm: MemoryManager) -> None:
        self.mm = mm

    async def lock(self, vma: Vma) -> None:
        await self.mm.vma_locks.start_write(vma)

    async def step(self) -> None:
        await self.mm.writer_step()

    def _check_count(self, extra: int = 1) -> None:
        if self.mm.map_count + extra > MAX_MAP_COUNT:
            raise _fail(errno.ENOMEM, f"more than max_map_count ({MAX_MAP_COUNT}) VMAs")

    async def split(self, vma: Vma, addr: int, new_below: bool) -> Vma:
        """Split ``vma`` at ``addr``; return the new VMA (``__split_vma``).

        With ``new_below`` the new VMA takes the lower part; ``vma`` keeps the
        other.  The old VMA is shrunk first and the new one stored after, so
        a lockless reader may see the shrunk VMA still owning its old range.
        """
        self._check_count()
        await self.lock(vma)
        if new_below:
            new = vma.copy(vma.start, addr)
            keep = (addr, vma.end, vma.pgoff_at(addr))
        else:
            new = vma.copy(addr, vma.end)
            keep = (vma.start, addr, vma.pgoff)
        await self.lock(new)
        vma.set_range(*keep)
        await self.step()
        self.mm.tree.store(new.start, new.end, new)
        await self.step()
        return new

    async def gather(self, start: int, end: int) -> list[Vma]:
        """Split at the edges and write-lock the VMAs within ``[start, end)``."""
        tree = self.mm.tree
        pieces = [vma for _, _, vma in tree.overlapping(start, end)]
        if not pieces:
            return []
        first, last = pieces[0], pieces[-1]
        if first is last and first.start < start and first.end > end:
            self._check_count(2)
        if first.start < start:
            pieces[0] = await self.split(first, start, new_below=False)
            if last is first:
                last = pieces[-1] = pieces[0]
        if last.end > end:
            pieces[-1] = await self.split(last, end, new_below=True)
        for vma in pieces:
            await self.lock(vma)
        return pieces

    async def set_range(self, vma: Vma, start: int, end: int, pgoff: int) -> None:
        vma.set_range(start, end, pgoff)
        await self.step()

    async def store(self, vma: Vma) -> None:
        """Make the tree map the VMA's current range to it."""
        self.mm.tree.store(vma.start, vma.end, vma)
        await self.step()

    async def set_flags(self, vma: Vma, flags: VmFlags) -> None:
        vma.set_flags(flags)
        await self.step()

    async def detach(self, vmas: list[Vma]) -> None:
        for vma in vmas:
            await self.mm.vma_locks.mark_detached(vma)
            await self.step()

    async def unmap(self, start: int, end: int) -> None:
        """Isolate ``[start, end)`` from the tree, then detach its VMAs (``do_vmi_munmap``)."""
        pieces = await self.gather(start, end)
        if not pieces:
            return
        self.mm.tree.erase(start, end)
        self.drop_pages(start, end)
        await self.step()
        await self.detach(pieces)

    def drop_pages(self, start: int, end: int) -> None:
        resident = self.mm.resident
        for page in list(resident.irange(start, end, inclusive=(True, False))):
            resident.discard(page)

    def neighbours(self, start: int, end: int) -> tuple[Vma | None, Vma | None]:
        """The VMAs ending exactly at ``start`` and starting exactly at ``end``."""
        tree = self.mm.tree
        before = tree.find_before(start)
        after = tree.find(end)
        prev = before[2] if before is not None and before[1] == start else None
        next_ = after[2] if after is not None and after[0] == end else None
        return prev, next_

    async def map_new_range(self, new: Vma) -> Vma:
        """Install ``new`` over its range, merging with neighbours (``vma_merge_new_range``).

        Whatever is mapped there is replaced: gathered and locked first, then
        overwritten in the tree by the new or expanded VMA, then detached.
        Returns the VMA that now covers the range.
        """
        start, end = new.start, new.end
        replaced = await self.gather(start, end)
        self.drop_pages(start, end)
        prev, next_ = self.neighbours(start, end)
        merge_prev = prev is not None and can_merge(prev, new)
        merge_next = next_ is not None and can_merge(new, next_)
        if merge_prev and merge_next:
            assert prev is not None and next_ is not None
            merge_next = _anon_compatible(prev.anon_vma, next_.anon_vma)
        if merge_prev:
            assert prev is not None
            await self.lock(prev)
            target, removed = prev, replaced
            new_end = end
            if merge_next:
                assert next_ is not None
                await self.lock(next_)
                removed = replaced + [next_]
                new_end = next_.end
            target.anon_vma = target.anon_vma or new.anon_vma or (next_.anon_vma if merge_next and next_ else None)
            await self.set_range(target, prev.start, new_end, prev.pgoff)
            await self.store(target)
            await self.detach(removed)
            return target
        if merge_next:
            assert next_ is not None
            await self.lock(next_)
            next_.anon_vma = next_.anon_vma or new.anon_vma
            await self.set_range(next_, start, next_.end, new.pgoff)
            await self.store(next_)
            await self.detach(replaced)
            return next_
        self._check_count()
        await self.lock(new)
        await self.store(new)
        await self.detach(replaced)
        return new

    async def modify_flags(self, vma: Vma, start: int, end: int, flags: VmFlags) -> Vma:
        """Give ``[start, end)`` of ``vma`` new flags, merging or splitting (``vma_modify_flags``)."""
        await self.lock(vma)
        probe = vma.copy(start, end)
        probe.flags = flags
        prev, next_ = self.neighbours(vma.start, vma.end)
        merge_left = start == vma.start and prev is not None and can_merge(prev, probe)
        merge_right = end == vma.end and next_ is not None and can_merge(probe, next_)
        if merge_left and merge_right:
            assert prev is not None and next_ is not None
            merge_right = _anon_compatible(prev.anon_vma, next_.anon_vma)
        if merge_left:
            assert prev is not None
            await self.lock(prev)
            prev.anon_vma = prev.anon_vma or vma.anon_vma
            if merge_right:
                assert next_ is not None
                await self.lock(next_)
                prev.anon_vma = prev.anon_vma or next_.anon_vma
                await self.set_range(prev, prev.start, next_.end, prev.pgoff)
                await self.store(prev)
                await self.detach([vma, next_])
            elif end == vma.end:
                await self.set_range(prev, prev.start, end, prev.pgoff)
                await self.store(prev)
                await self.detach([vma])
            else:
                prev.set_range(prev.start, end, prev.pgoff)
                await self.set_range(vma, end, vma.end, vma.pgoff_at(end))
                await self.store(prev)
            return prev
        if merge_right:
            assert next_ is not None
            await self.lock(next_)
            next_.anon_vma = next_.anon_vma or vma.anon_vma
            if start == vma.start:
                await self.set_range(next_, start, next_.end, vma.pgoff)
                await self.store(next_)
                await self.detach([vma])
            else:
                next_.set_range(start, next_.end, vma.pgoff_at(start))
                await self.set_range(vma, vma.start, start, vma.pgoff)
                await self.store(next_)
            return next_
        if vma.start < start:
            await self.split(vma, start, new_below=True)
        if vma.end > end:
            await self.split(vma, end, new_below=False)
        await self.set_flags(vma, flags)
        return vma

    async def fault_in(self, vma: Vma, start: int, end: int) -> None:
        """Fault pages of ``[start, end)`` in, as a write where allowed."""
        flags = vma.flags
        if not flags & VmFlags.READ and not flags & VmFlags.WRITE:
            return
        private_write = flags & VmFlags.WRITE and not flags & VmFlags.SHARED
        if private_write and vma.anon_vma is None:
            vma.anon_vma = self.reusable_anon_vma(vma) or AnonVma()
        if private_write or vma.file is not None:
            self.mm.resident.update(range(start, end, PAGE_SIZE))
            await self.step()

    def reusable_anon_vma(self, vma: Vma) -> AnonVma | None:
        """A neighbour's anon_vma that ``vma`` may share (``find_mergeable_anon_vma``)."""
        prev, next_ = self.neighbours(vma.start, vma.end)
        for low, high, other in ((vma, next_, next_), (prev, vma, prev)):
            if low is None or high is None or other is None or other.anon_vma is None:
                continue
            if (
                (low.flags ^ high.flags) & ~ANON_COMPAT_IGNORE == 0
                and low.file == high.file
                and low.name == high.name
                and low.pgoff + low.pages == high.pgoff
            ):
                return other.anon_vma
        return None


def _task_range(start: int, length: int) -> bool:
    return 0 <= start and length <= TASK_SIZE and start <= TASK_SIZE - length


def get_unmapped_area(mm: MemoryManager, hint: int, length: int) -> int:
    """Top-down placement like x86-64: the hint if free, else the highest gap below mmap_base.

    O(log n + k), k being the VMAs walked past below mmap_base.
    """
    if length > TASK_SIZE:
        raise _fail(errno.ENOMEM, "length exceeds the address space")
    tree = mm.tree
    if hint:
        hint = page_align(max(hint, MMAP_MIN_ADDR))
        if _task_range(hint, length) and not tree.overlapping(hint, hint + length):
            return hint
    ceiling = mm.mmap_base
    for start, end, _ in tree.iter_down_from(ceiling):
        if end <= ceiling and ceiling - end >= length:
            return ceiling - length
        ceiling = min(ceiling, start)
    if ceiling - MMAP_MIN_ADDR >= length:
        return ceiling - length
    raise _fail(errno.ENOMEM, f"no free gap of {length:#x} bytes below mmap_base")


def _vm_flags(prot: VmFlags, flags: MapFlags) -> VmFlags:
    vm = prot | MAY_MASK
    if flags & MapFlags.SHARED:
        vm |= VmFlags.SHARED | VmFlags.MAYSHARE
    if flags & MapFlags.GROWSDOWN:
        vm |= VmFlags.GROWSDOWN
    if flags & MapFlags.NORESERVE:
        vm |= VmFlags.NORESERVE
    if vm & (VmFlags.NORESERVE | VmFlags.SHARED | VmFlags.WRITE) == VmFlags.WRITE:
        vm |= VmFlags.ACCOUNT
    return vm


async def mmap(
    mm: MemoryManager,
    addr: int,
    length: int,
    prot: VmFlags,
    flags: MapFlags,
    file: MappedFile | None = None,
    offset: int = 0,
    name: str | None = None,
) -> int:
    """``mmap(2)``.  Returns the mapped address."""
    kind = flags & (MapFlags.PRIVATE | MapFlags.SHARED)
    if kind not in (MapFlags.PRIVATE, MapFlags.SHARED):
        raise _fail(errno.EINVAL, "exactly one of private and shared is required")
    anonymous = bool(flags & MapFlags.ANONYMOUS)
    if not anonymous and file is None:
        raise _fail(errno.EBADF, "a file mapping needs a PATH (or the anonymous flag)")
    if offset < 0 or offset % PAGE_SIZE:
        raise _fail(errno.EINVAL, "offset is not page aligned")
    if length <= 0:
        raise _fail(errno.EINVAL, "length is 0")
    if addr < 0:
        raise _fail(errno.EINVAL if flags & MapFlags.FIXED else errno.ENOMEM, "negative address")
    length = page_align(length)
    if length > TASK_SIZE:
        raise _fail(errno.ENOMEM, "length exceeds the address space")
    if mm.map_count > MAX_MAP_COUNT:
        raise _fail(errno.ENOMEM, f"more than max_map_count ({MAX_MAP_COUNT}) VMAs")
    fixed = bool(flags & (MapFlags.FIXED | MapFlags.FIXED_NOREPLACE))
    async with mm.write_locked():
        if fixed:
            if not _task_range(addr, length):
                raise _fail(errno.ENOMEM, "range is beyond the address space")
            if addr % PAGE_SIZE:
                raise _fail(errno.EINVAL, "fixed address is not page aligned")
            if addr < MMAP_MIN_ADDR:
                raise _fail(errno.EPERM, "address below vm.mmap_min_addr")
        else:
            addr = get_unmapped_area(mm, addr, length)
        if flags & MapFlags.FIXED_NOREPLACE and mm.tree.overlapping(addr, addr + length):
            raise _fail(errno.EEXIST, f"{addr:#x}-{addr + length:#x} is already mapped")
        vm_flags = _vm_flags(prot, flags)
        if anonymous and flags & MapFlags.SHARED:
            file = MappedFile("/dev/zero (deleted)", 0, 1, next(_shmem_inodes))
            pgoff = 0
        elif anonymous:
            file = None
            pgoff = addr >> PAGE_SHIFT
        else:
            pgoff = offset >> PAGE_SHIFT
        tx = Transaction(mm)
        vma = await tx.map_new_range(Vma(addr, addr + length, vm_flags, pgoff, file, name))
        if flags & MapFlags.POPULATE:
            await tx.fault_in(vma, addr, addr + length)
    return addr


async def munmap(mm: MemoryManager, addr: int, length: int) -> None:
    """``munmap(2)``."""
    if addr < 0 or addr % PAGE_SIZE:
        raise _fail(errno.EINVAL, "address is not page aligned")
    if length <= 0:
        raise _fail(errno.EINVAL, "length is 0")
    length = page_align(length)
    if not _task_range(addr, length):
        raise _fail(errno.EINVAL, "range is beyond the address space")
    async with mm.write_locked():
        await Transaction(mm).unmap(addr, addr + length)


def _mprotect_flags(vma: Vma, prot: VmFlags) -> VmFlags:
    old = vma.flags
    new = (old & ~PROT_MASK) | prot
    if new & VmFlags.WRITE:
        if not old & (VmFlags.ACCOUNT | VmFlags.WRITE | VmFlags.SHARED | VmFlags.NORESERVE):
            new |= VmFlags.ACCOUNT
    elif old & VmFlags.ACCOUNT and vma.is_anonymous and vma.anon_vma is None:
        new &= ~VmFlags.ACCOUNT
    return new


async def mprotect(mm: MemoryManager, addr: int, length: int, prot: VmFlags) -> None:
    """``mprotect(2)``.  A hole inside the range fails with ENOMEM after the part before it changed."""
    if addr < 0 or addr % PAGE_SIZE:
        raise _fail(errno.EINVAL, "address is not page aligned")
    if length < 0:
        raise _fail(errno.ENOMEM, "negative length")
    if length == 0:
        return
    end = addr + page_align(length)
    if end > 1 << 64:
        raise _fail(errno.ENOMEM, "range wraps around")
    async with mm.write_locked():
        tx = Transaction(mm)
        found = mm.tree.find(addr)
        if found is None or found[2].start > addr or found[2].start >= end:
            raise _fail(errno.ENOMEM, f"{addr:#x} is not mapped")
        position = addr
        while position < end:
            found = mm.tree.find(position)
            if found is None or found[2].start > position:
                raise _fail(errno.ENOMEM, f"{position:#x} is not mapped")
            vma = found[2]
            new_flags = _mprotect_flags(vma, prot)
            if (new_flags & PROT_MASK) & ~(new_flags >> 4):
                raise _fail(errno.EACCES, "protection not allowed for this mapping")
            piece_end = min(vma.end, end)
            if new_flags != vma.flags:
                vma = await tx.modify_flags(vma, position, piece_end, new_flags)
            position = piece_end


async def mremap(
    mm: MemoryManager,
    old: int,
    old_len: int,
    new_len: int,
    flags: MremapFlags = MremapFlags.NONE,
    new_addr: int = 0,
) -> int:
    """``mremap(2)``: shrink, grow in place, move (MAYMOVE, FIXED) and DONTUNMAP."""
    maymove = bool(flags & MremapFlags.MAYMOVE)
    fixed = bool(flags & MremapFlags.FIXED)
    dontunmap = bool(flags & MremapFlags.DONTUNMAP)
    if fixed and not maymove:
        raise _fail(errno.EINVAL, "fixed needs maymove")
    if dontunmap and (not maymove or old_len != new_len):
        raise _fail(errno.EINVAL, "dontunmap needs maymove and equal lengths")
    if old < 0 or old % PAGE_SIZE:
        raise _fail(errno.EINVAL, "old address is not page aligned")
    if old_len < 0 or new_len < 0:
        raise _fail(errno.EINVAL, "negative length")
    old_len = page_align(old_len)
    new_len = page_align(new_len)
    if new_len == 0:
        raise _fail(errno.EINVAL, "new length is 0")
    if old_len > TASK_SIZE or new_len > TASK_SIZE or old > TASK_SIZE - old_len:
        raise _fail(errno.EINVAL, "range is beyond the address space")
    if fixed:
        if new_addr < 0 or new_addr % PAGE_SIZE:
            raise _fail(errno.EINVAL, "new address is not page aligned")
        if not _task_range(new_addr, new_len):
            raise _fail(errno.EINVAL, "new range is beyond the address space")
        if new_addr < old + old_len and old < new_addr + new_len:
            raise _fail(errno.EINVAL, "old and new ranges overlap")
    async with mm.write_locked():
        tx = Transaction(mm)
        vma = mm.tree.lookup(old)
        if vma is None:
            raise _fail(errno.EFAULT, f"{old:#x} is not mapped")
        if old_len == 0:
            raise _fail(errno.EINVAL, "old length 0 duplicates only shared mappings")
        if old_len > vma.end - old:
            raise _fail(errno.EFAULT, "old range spans more than one mapping")
        if new_len > old_len and vma.flags & UNMERGEABLE:
            raise _fail(errno.EFAULT, "special mapping cannot grow")
        if fixed:
            await tx.unmap(new_addr, new_addr + new_len)
            if old_len > new_len:
                await tx.unmap(old + new_len, old + old_len)
                old_len = new_len
            return await _move(tx, old, old_len, new_len, new_addr, dontunmap)
        if dontunmap:
            return await _move(tx, old, old_len, new_len, get_unmapped_area(mm, 0, new_len), dontunmap)
        if new_len <= old_len:
            if new_len < old_len:
                await tx.unmap(old + new_len, old + old_len)
            return old
        grown_end = old + new_len
        if old + old_len == vma.end and _task_range(old, new_len) and not mm.tree.overlapping(vma.end, grown_end):
            extension = vma.copy(vma.end, grown_end)
            extension.flags = vma.flags
            await tx.map_new_range(extension)
            return old
        if not maymove:
            raise _fail(errno.ENOMEM, "cannot grow in place and maymove not given")
        return await _move(tx, old, old_len, new_len, get_unmapped_area(mm, 0, new_len), dontunmap)


async def _move(tx: Transaction, old: int, old_len: int, new_len: int, new_addr: int, dontunmap: bool) -> int:
    """``move_vma``: copy the VMA to ``new_addr`` (merging there), move pages, unmap the source."""
    mm = tx.mm
    vma = mm.tree.lookup(old)
    assert vma is not None
    tx._check_count(3)
    copy = vma.copy(new_addr, new_addr + new_len)
    copy.pgoff = vma.pgoff_at(old)
    if vma.is_anonymous and vma.anon_vma is None:
        copy.pgoff = new_addr >> PAGE_SHIFT
    moved = [page for page in mm.resident.irange(old, old + old_len, inclusive=(True, False))]
    await tx.map_new_range(copy)
    tx.drop_pages(old, old + old_len)
    mm.resident.update(page - old + new_addr for page in moved if page - old < new_len)
    if dontunmap:
        return new_addr
    await tx.unmap(old, old + old_len)
    return new_addr


async def touch(mm: MemoryManager, addr: int, length: int) -> None:
    """Fault in every page of ``[addr, addr+length)`` (a write where the VMA allows it)."""
    if addr < 0 or addr % PAGE_SIZE:
        raise _fail(errno.EINVAL, "address is not page aligned")
    if length <= 0:
        raise _fail(errno.EINVAL, "length is 0")
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
            raise _fail(errno.EFAULT, f"{position:#x} is not mapped")
        tx = Transaction(mm)
        for vma, start, piece_end in pieces:
            await tx.fault_in(vma, start, piece_end)
