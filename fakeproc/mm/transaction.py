"""One write transaction's steps, in the kernel's order, each ending at a preemption point.

A VMA's fields and the tree are updated separately, a split first shrinks
the old VMA and then stores the new one, and an unmap first isolates the
range from the tree and then detaches the VMAs, so a lockless reader can see
every intermediate state the kernel's own readers can.
"""

from __future__ import annotations

import errno
from collections.abc import Coroutine
from typing import Any

from ..errors import SyscallError
from .merge import anon_vma_compatible, merge_sides
from .mm import MemoryManager
from .vma import VM_READ, VM_SHARED, VM_WRITE, AnonVma, Vma


class Transaction:
    """The steps of one write transaction.  Each step ends at ``mm.writer_preempt()``."""

    def __init__(self, mm: MemoryManager) -> None:
        self.mm = mm

    def lock(self, vma: Vma) -> Coroutine[Any, Any, None]:
        """Write-lock ``vma``; to be awaited at once (the lock's own coroutine, with no frame of ours around it)."""
        return self.mm.vma_locks.start_write(vma)

    def check_split_limit(self) -> None:
        """``split_vma`` refuses to reach more than max_map_count VMAs."""
        limit = self.mm.limits.max_map_count
        if self.mm.map_count >= limit:
            raise SyscallError(errno.ENOMEM, f"a split would exceed max_map_count ({limit})")

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
        await self.mm.writer_preempt()
        self.mm.store(new.start, new.end, new)
        await self.mm.writer_preempt()
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
        await self.mm.writer_preempt()

    async def store(self, vma: Vma) -> None:
        """Make the tree map the VMA's current range to it."""
        self.mm.store(vma.start, vma.end, vma)
        await self.mm.writer_preempt()

    async def set_flags(self, vma: Vma, flags: int) -> None:
        vma.set_flags(flags)
        await self.mm.writer_preempt()

    async def drop_anon_vma(self, vma: Vma) -> None:
        """``unlink_anon_vmas``: the VMA's pages are gone, so is its anon_vma."""
        await self.lock(vma)
        vma.anon_vma = None
        await self.mm.writer_preempt()

    async def detach(self, vmas: list[Vma]) -> None:
        for vma in vmas:
            await self.mm.vma_locks.mark_detached(vma)
            await self.mm.writer_preempt()

    async def unmap(self, start: int, end: int) -> None:
        """Isolate ``[start, end)`` from the tree, then detach its VMAs (``do_vmi_munmap``)."""
        pieces = await self.gather(start, end)
        if not pieces:
            return
        self.mm.tree.erase(start, end)
        self.mm.drop_resident(start, end)
        await self.mm.writer_preempt()
        await self.detach(pieces)

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
        self.mm.drop_resident(new.start, new.end)
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

    async def modify_flags(self, vma: Vma, start: int, end: int, flags: int) -> Vma:
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
        if not flags & (VM_READ | VM_WRITE):
            return
        private_write = flags & (VM_WRITE | VM_SHARED) == VM_WRITE
        if private_write and vma.anon_vma is None:
            vma.anon_vma = self.reusable_anon_vma(vma) or self.mm.new_anon_vma()
        # A read of anonymous memory maps the shared zero page, which Rss does not count.
        if private_write or not vma.is_anonymous:
            self.mm.add_resident(start, end)
            await self.mm.writer_preempt()

    def reusable_anon_vma(self, vma: Vma) -> AnonVma | None:
        """A neighbour's anon_vma that ``vma`` may share: next first, then prev (``find_mergeable_anon_vma``)."""
        prev, next_ = self.neighbours(vma.start, vma.end)
        if next_ is not None and next_.anon_vma is not None and anon_vma_compatible(vma, next_):
            return next_.anon_vma
        if prev is not None and prev.anon_vma is not None and anon_vma_compatible(prev, vma):
            return prev.anon_vma
        return None
