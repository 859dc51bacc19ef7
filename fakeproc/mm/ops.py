"""mmap, munmap, mprotect, mremap and page faults as step-wise write transactions.

Each syscall takes ``mmap_lock`` for write, write-locks the VMAs it changes,
and applies its change in the kernel's order, with a preemption point between
steps: a VMA's fields and the tree are updated separately, a split first
shrinks the old VMA and then stores the new one, an unmap first isolates the
range from the tree and then detaches the VMAs.  Argument checks come first,
in the kernel's order, so every failure has the real syscall's errno.

The rules (merging, anon_vma reuse, VM_ACCOUNT, error order, max_map_count)
follow Linux 6.18 as measured in tests/kdiff/KERNEL_FACTS.md; the function
names in the docstrings are the kernel's.
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
#: Mappings mremap may neither grow nor DONTUNMAP.
UNEXPANDABLE = VmFlags.DONTEXPAND | VmFlags.PFNMAP
#: stack_guard_gap: no placement without MAP_FIXED comes this close below a growsdown VMA.
STACK_GUARD_GAP = 256 * PAGE_SIZE
#: Shared anonymous memory is a deleted shmem file, as maps shows it.
SHMEM_PATH = "/dev/zero (deleted)"
_ULONG = (1 << 64) - 1

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


def merge_sides(prev: Vma | None, middle: Vma, next_: Vma | None) -> tuple[Vma | None, Vma | None]:
    """The neighbours ``middle`` joins (``can_vma_merge_left`` / ``can_vma_merge_right``).

    Each side must fit ``middle``; when both do, their own anon_vmas must be
    compatible too, and if they are not, ``middle`` joins only ``prev``.
    """
    left = prev if prev is not None and can_merge(prev, middle) else None
    right = next_ if next_ is not None and can_merge(middle, next_) else None
    if left is not None and right is not None and not _anon_compatible(left.anon_vma, right.anon_vma):
        right = None
    return left, right


def anon_vma_compatible(low: Vma, high: Vma) -> bool:
    """May ``low`` and ``high`` (touching) share an anon_vma (``anon_vma_compatible``)?"""
    return (
        low.end == high.start
        and low.file == high.file
        and (low.flags ^ high.flags) & ~ANON_COMPAT_IGNORE == 0
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

    def check_split_limit(self) -> None:
        """``split_vma`` refuses to reach more than max_map_count VMAs."""
        if self.mm.map_count >= MAX_MAP_COUNT:
            raise _fail(errno.ENOMEM, f"a split would exceed max_map_count ({MAX_MAP_COUNT})")

    async def split(self, vma: Vma, addr: int, new_below: bool) -> Vma:
        """Split ``vma`` at ``addr``; return the new VMA (``__split_vma``, no limit check).

        With ``new_below`` the new VMA takes the lower part; ``vma`` keeps the
        other.  The old VMA is shrunk first and the new one stored after, so
        a lockless reader may see the shrunk VMA still owning its old range.
        """
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
        """Split at the edges and write-lock the VMAs within ``[start, end)`` (``vms_gather_munmap_vmas``).

        Only a range strictly inside one VMA checks max_map_count: the VMA
        count may end up one above the limit otherwise.
        """
        pieces = [vma for _, _, vma in self.mm.tree.overlapping(start, end)]
        if not pieces:
            return []
        first = pieces[0]
        if first.start < start and first.end > end:
            self.check_split_limit()
        if first.start < start:
            pieces[0] = await self.split(first, start, new_below=False)
        last = pieces[-1]
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

    async def drop_anon_vma(self, vma: Vma) -> None:
        """``unlink_anon_vmas``: the VMA's pages are gone, so is its anon_vma."""
        await self.lock(vma)
        vma.anon_vma = None
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
        Returns the VMA that now covers the range.  Like ``mmap_region`` and
        ``copy_vma``, this never checks max_map_count.
        """
        replaced = await self.gather(new.start, new.end)
        self.drop_pages(new.start, new.end)
        prev, next_ = self.merge_candidates(new, new)
        if prev is not None or next_ is not None:
            return await self._expand_over(prev, next_, new, replaced)
        await self.lock(new)
        await self.store(new)
        await self.detach(replaced)
        return new

    def merge_candidates(self, around: Vma, source: Vma) -> tuple[Vma | None, Vma | None]:
        """The neighbours of ``around`` that ``source`` (a part of it, or all) would join."""
        prev, next_ = self.neighbours(around.start, around.end)
        if source.start != around.start:
            prev = None
        if source.end != around.end:
            next_ = None
        return merge_sides(prev, source, next_)

    async def _expand_over(self, prev: Vma | None, next_: Vma | None, source: Vma, removed: list[Vma]) -> Vma:
        """Grow ``prev`` (and absorb ``next_``), or grow ``next_`` down, over ``source``'s range (``vma_expand``).

        ``source`` gives the range, its pgoff and its anon_vma; ``removed``
        are the VMAs the grown one replaces.
        """
        target = prev if prev is not None else next_
        assert target is not None
        for vma in (prev, next_):
            if vma is not None:
                await self.lock(vma)
        absorbed = [next_] if prev is not None and next_ is not None else []
        target.anon_vma = target.anon_vma or source.anon_vma or next((v.anon_vma for v in absorbed), None)
        start = prev.start if prev is not None else source.start
        end = next_.end if next_ is not None else source.end
        await self.set_range(target, start, end, prev.pgoff if prev is not None else source.pgoff)
        await self.store(target)
        await self.detach(removed + absorbed)
        return target

    async def _merge_partial(self, middle: Vma, source: Vma, prev: Vma | None, next_: Vma | None) -> Vma:
        """One neighbour takes over ``source``'s part of ``middle``, which shrinks (``__adjust_middle_start``)."""
        target = prev if prev is not None else next_
        assert target is not None
        await self.lock(target)
        target.anon_vma = target.anon_vma or source.anon_vma
        if prev is not None:
            prev.set_range(prev.start, source.end, prev.pgoff)
            keep = (source.end, middle.end, middle.pgoff_at(source.end))
        else:
            assert next_ is not None
            next_.set_range(source.start, next_.end, source.pgoff)
            keep = (middle.start, source.start, middle.pgoff)
        await self.set_range(middle, *keep)
        await self.store(target)
        return target

    async def modify_flags(self, vma: Vma, start: int, end: int, flags: VmFlags) -> Vma:
        """Give ``[start, end)`` of ``vma`` new flags, merging or splitting (``vma_modify_flags``)."""
        await self.lock(vma)
        probe = vma.copy(start, end)
        probe.set_flags(flags)
        prev, next_ = self.merge_candidates(vma, probe)
        if prev is not None or next_ is not None:
            if start == vma.start and end == vma.end:
                return await self._expand_over(prev, next_, probe, [vma])
            return await self._merge_partial(vma, probe, prev, next_)
        if vma.start < start:
            self.check_split_limit()
            await self.split(vma, start, new_below=True)
        if vma.end > end:
            self.check_split_limit()
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
        """A neighbour's anon_vma that ``vma`` may share: next first, then prev (``find_mergeable_anon_vma``)."""
        prev, next_ = self.neighbours(vma.start, vma.end)
        if next_ is not None and next_.anon_vma is not None and anon_vma_compatible(vma, next_):
            return next_.anon_vma
        if prev is not None and prev.anon_vma is not None and anon_vma_compatible(prev, vma):
            return prev.anon_vma
        return None


# --------------------------------------------------------------------------
# placement


def _task_range(start: int, length: int) -> bool:
    return 0 <= start and length <= TASK_SIZE and start <= TASK_SIZE - length


def _gap_start(start: int, vma: Vma) -> int:
    """The lowest address a placed mapping may end at below ``vma`` (``vm_start_gap``)."""
    return max(start - STACK_GUARD_GAP, 0) if vma.flags & VmFlags.GROWSDOWN else start


def _hint_fits(mm: MemoryManager, hint: int, length: int) -> bool:
    if not _task_range(hint, length):
        return False
    above = mm.tree.find(hint)
    return above is None or hint + length <= _gap_start(above[0], above[2])


def get_unmapped_area(mm: MemoryManager, hint: int, length: int) -> int:
    """Top-down placement like x86-64: the hint if free, else the highest gap below mmap_base.

    Gaps keep ``stack_guard_gap`` below growsdown VMAs.  O(log n + k), k
    being the VMAs walked past below mmap_base.
    """
    if length > TASK_SIZE:
        raise _fail(errno.ENOMEM, "length exceeds the address space")
    hint &= ~(PAGE_SIZE - 1)
    if hint and _hint_fits(mm, hint, length):
        return hint
    ceiling = mm.mmap_base
    for start, end, vma in mm.tree.iter_down_from(ceiling):
        if end <= ceiling and ceiling - end >= length:
            return ceiling - length
        ceiling = min(ceiling, _gap_start(start, vma))
    if ceiling - MMAP_MIN_ADDR >= length:
        return ceiling - length
    raise _fail(errno.ENOMEM, f"no free gap of {length:#x} bytes below mmap_base")


def _mmap_address(mm: MemoryManager, addr: int, length: int, fixed: bool) -> int:
    """``__get_unmapped_area``: a fixed address is checked, any other one chosen."""
    if not fixed:
        return get_unmapped_area(mm, addr, length)
    if length > TASK_SIZE or addr > TASK_SIZE - length:
        raise _fail(errno.ENOMEM, "range is beyond the address space")
    if addr % PAGE_SIZE:
        raise _fail(errno.EINVAL, "fixed address is not page aligned")
    if addr < MMAP_MIN_ADDR:
        raise _fail(errno.EPERM, "address below vm.mmap_min_addr")
    return addr


# --------------------------------------------------------------------------
# mmap


def _round_hint(hint: int) -> int:
    """``round_hint_to_min``."""
    hint &= ~(PAGE_SIZE - 1)
    return MMAP_MIN_ADDR if 0 < hint < MMAP_MIN_ADDR else hint


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


def _check_map_type(flags: MapFlags, file: MappedFile | None) -> None:
    """The ``MAP_TYPE`` switch of ``do_mmap``: exactly one of private and shared; growsdown only for private anon."""
    kind = flags & (MapFlags.PRIVATE | MapFlags.SHARED)
    if kind not in (MapFlags.PRIVATE, MapFlags.SHARED):
        raise _fail(errno.EINVAL, "exactly one of private and shared is required")
    if flags & MapFlags.GROWSDOWN and (kind == MapFlags.SHARED or file is not None):
        raise _fail(errno.EINVAL, "growsdown needs a private anonymous mapping")


def _backing(addr: int, flags: MapFlags, file: MappedFile | None, offset: int) -> tuple[MappedFile | None, int]:
    """(file, pgoff) of a new mapping; shared anonymous memory is a fresh shmem file at pgoff 0."""
    if file is not None:
        return file, offset >> PAGE_SHIFT
    if flags & MapFlags.SHARED:
        return MappedFile(SHMEM_PATH, 0, 1, next(_shmem_inodes)), 0
    return None, addr >> PAGE_SHIFT


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
    """``mmap(2)``.  Returns the mapped address.

    Errors in the kernel's order: EBADF (no file), EINVAL (length 0),
    ENOMEM (map_count above the limit), the address checks, EEXIST
    (fixed_noreplace), then the map type.
    """
    if offset < 0 or offset % PAGE_SIZE:
        raise _fail(errno.EINVAL, "offset is not page aligned")
    if not flags & MapFlags.ANONYMOUS and file is None:
        raise _fail(errno.EBADF, "a file mapping needs a PATH (or the anonymous flag)")
    if flags & MapFlags.ANONYMOUS:
        file = None
    if length == 0:
        raise _fail(errno.EINVAL, "length is 0")
    fixed = bool(flags & (MapFlags.FIXED | MapFlags.FIXED_NOREPLACE))
    length = page_align(length)
    if length > _ULONG:
        raise _fail(errno.ENOMEM, "length exceeds the address space")
    async with mm.write_locked():
        if mm.map_count > MAX_MAP_COUNT:
            raise _fail(errno.ENOMEM, f"more than max_map_count ({MAX_MAP_COUNT}) VMAs")
        addr = _mmap_address(mm, addr if fixed else _round_hint(addr), length, fixed)
        if flags & MapFlags.FIXED_NOREPLACE and mm.tree.overlapping(addr, addr + length):
            raise _fail(errno.EEXIST, f"{addr:#x}-{addr + length:#x} is already mapped")
        _check_map_type(flags, file)
        backing, pgoff = _backing(addr, flags, file, offset)
        tx = Transaction(mm)
        vma = await tx.map_new_range(Vma(addr, addr + length, _vm_flags(prot, flags), pgoff, backing, name))
        if flags & MapFlags.POPULATE:
            await tx.fault_in(vma, addr, addr + length)
    return addr


# --------------------------------------------------------------------------
# munmap


def _check_unmap_range(start: int, length: int) -> int:
    """``do_vmi_munmap``'s argument checks; returns the page-aligned end."""
    if start % PAGE_SIZE or start > TASK_SIZE or length > TASK_SIZE - start:
        raise _fail(errno.EINVAL, "address is not page aligned or the range is beyond the address space")
    end = start + page_align(length)
    if end == start:
        raise _fail(errno.EINVAL, "length is 0")
    return end


async def munmap(mm: MemoryManager, addr: int, length: int) -> None:
    """``munmap(2)``: splits at both ends; the range may cover VMAs and holes."""
    end = _check_unmap_range(addr, length)
    async with mm.write_locked():
        await Transaction(mm).unmap(addr, end)


# --------------------------------------------------------------------------
# mprotect


def _mprotect_flags(vma: Vma, prot: VmFlags) -> VmFlags:
    """The VMA's flags after mprotect, VM_ACCOUNT included (``mprotect_fixup``)."""
    old = vma.flags
    new = (old & ~PROT_MASK) | prot
    if new == old:
        return old
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
    if end > _ULONG:
        raise _fail(errno.ENOMEM, "range wraps around")
    async with mm.write_locked():
        tx = Transaction(mm)
        position = addr
        while position < end:
            vma = mm.tree.lookup(position)
            if vma is None:
                raise _fail(errno.ENOMEM, f"{position:#x} is not mapped")
            new_flags = _mprotect_flags(vma, prot)
            if (new_flags & PROT_MASK) & ~(new_flags >> 4):
                raise _fail(errno.EACCES, "protection not allowed for this mapping")
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
        raise _fail(errno.EINVAL, "old address is not page aligned")
    if new_len == 0 or new_len > TASK_SIZE:
        raise _fail(errno.EINVAL, "new length is 0 or beyond the address space")
    if not flags & (MremapFlags.FIXED | MremapFlags.DONTUNMAP):
        return
    if new_addr > TASK_SIZE - new_len or new_addr % PAGE_SIZE:
        raise _fail(errno.EINVAL, "new address is not page aligned or beyond the address space")
    if not flags & MremapFlags.MAYMOVE:
        raise _fail(errno.EINVAL, "fixed and dontunmap need maymove")
    if flags & MremapFlags.DONTUNMAP and old_len != new_len:
        raise _fail(errno.EINVAL, "dontunmap cannot resize")
    if new_addr < old + old_len and old < new_addr + new_len:
        raise _fail(errno.EINVAL, "old and new ranges overlap")
    if mm.map_count + 2 >= MAX_MAP_COUNT - 3:
        raise _fail(errno.ENOMEM, f"a move could exceed max_map_count ({MAX_MAP_COUNT})")


def _check_remap_vma(vma: Vma | None, old: int, old_len: int, new_len: int, flags: MremapFlags) -> Vma:
    """``check_prep_vma``: what the VMA at OLD allows."""
    if vma is None:
        raise _fail(errno.EFAULT, f"{old:#x} is not mapped")
    if new_len <= old_len and not flags & (MremapFlags.FIXED | MremapFlags.DONTUNMAP):
        return vma  # stays in place: any range may shrink
    if old_len == 0 and not vma.flags & (VmFlags.SHARED | VmFlags.MAYSHARE):
        raise _fail(errno.EINVAL, "old length 0 duplicates only shared mappings")
    if flags & MremapFlags.DONTUNMAP and vma.flags & UNEXPANDABLE:
        raise _fail(errno.EINVAL, "dontunmap of a special mapping")
    if min(old_len, new_len) > vma.end - old:
        raise _fail(errno.EFAULT, "old range spans more than one mapping")
    if new_len != old_len and vma.flags & UNEXPANDABLE:
        raise _fail(errno.EFAULT, "special mapping cannot be resized")
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
        raise _fail(errno.EINVAL, "negative argument")
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
        raise _fail(errno.ENOMEM, "cannot grow in place and maymove not given")
    return await _move_vma(tx, old, old_len, new_len, get_unmapped_area(tx.mm, 0, new_len), flags)


def _expandable(mm: MemoryManager, vma: Vma, delta: int) -> bool:
    """``vma_expandable``: the space after the VMA is free and inside the address space."""
    end = vma.end + delta
    return _task_range(vma.start, end - vma.start) and not mm.tree.overlapping(vma.end, end)


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
            raise _fail(errno.EFAULT, f"{old:#x} was unmapped by the destination")
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
    found, since a moved piece may merge into a VMA of the range.
    """
    tree, end = tx.mm.tree, start + length
    position, target, last_end = start, new_addr, start
    result: int | None = None
    while position < end and (found := tree.find(position)) is not None and found[0] < end:
        vma_start, vma_end, vma = found
        if result is None and vma_start > start:
            raise _fail(errno.EFAULT, f"{start:#x} is not mapped")
        addr = max(vma_start, start)
        piece = min(end, vma_end) - addr
        _check_remap_vma(vma, addr, piece, piece, flags)
        gap = vma_start - last_end if result is not None else 0
        moved = await _remap_to(tx, addr, piece, piece, target + gap, flags)
        result = moved if result is None else result
        target, position, last_end = moved + piece, vma_end, vma_end
    if result is None:
        raise _fail(errno.EFAULT, f"{start:#x} is not mapped")
    return result


async def _move_vma(tx: Transaction, old: int, old_len: int, new_len: int, new_addr: int, flags: MremapFlags) -> int:
    """``move_vma``: copy the VMA to ``new_addr`` (merging there), move the pages, unmap the source.

    A never-faulted anonymous VMA takes ``pgoff = new_addr`` (``copy_vma``)
    so that it merges there like a fresh mapping; one with an anon_vma keeps
    its pgoff and anon_vma.  With DONTUNMAP the source stays as it is
    (VM_ACCOUNT included); moving all of it drops its anon_vma.
    """
    mm = tx.mm
    if mm.map_count >= MAX_MAP_COUNT - 3:
        raise _fail(errno.ENOMEM, f"a move could exceed max_map_count ({MAX_MAP_COUNT})")
    vma = mm.tree.lookup(old)
    assert vma is not None
    copy = vma.copy(new_addr, new_addr + new_len)
    # A never-faulted anonymous VMA takes its new address as pgoff, so it can merge there.
    fresh_anon = vma.is_anonymous and vma.anon_vma is None
    copy.set_range(copy.start, copy.end, new_addr >> PAGE_SHIFT if fresh_anon else vma.pgoff_at(old))
    moved = list(mm.resident.irange(old, old + old_len, inclusive=(True, False)))
    new = await tx.map_new_range(copy)
    tx.drop_pages(old, old + old_len)
    mm.resident.update(page - old + new_addr for page in moved)
    if flags & MremapFlags.DONTUNMAP:
        source = mm.tree.lookup(old)
        if source is not None and source is not new and (source.start, source.end) == (old, old + old_len):
            await tx.drop_anon_vma(source)
    elif old_len:
        await tx.unmap(old, old + old_len)
    return new_addr


# --------------------------------------------------------------------------
# page faults


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
