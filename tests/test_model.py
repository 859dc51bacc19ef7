"""fakeproc.mm.syscalls against a page-granular reference model (hypothesis state machine).

The reference knows, for every mapped page, what maps shows of it:
``(prot, shared, backing, file page offset)``, plus whether its mapping
carries VM_ACCOUNT (which decides merges, so it decides what maps shows).  Every operation is first
predicted by the reference (result or errno, and the new pages), then run on
a MemoryManager inside ``trio.run``; afterwards the two must agree page by
page, ``mm.check()`` must pass, and no two adjacent VMAs may be mergeable.

Semantics follow Linux 6.18 as recorded in tests/kdiff/KERNEL_FACTS.md.

What the reference does not know: VMA boundaries, anon_vma and VM_ACCOUNT.
Where the kernel's answer depends on VMA boundaries (mremap: "the old range
must lie in the VMA holding OLD", growing in place at the VMA's end, the
pieces of a multi-VMA move), the reference reads them from the mm *before*
the operation; the invariants below then check those boundaries are sane:

- the pages of each VMA agree with the reference, so a VMA never spans
  pages with different attributes;
- no two adjacent VMAs satisfy ``can_merge``.  Adjacent VMAs may stay apart
  only for reasons ``can_merge`` sees (different anon_vma, VM_ACCOUNT,
  non-contiguous pgoff), never for no reason, with one exception the kernel
  really has: MREMAP_DONTUNMAP of a whole VMA drops the source's anon_vma
  (fact 4.8) without trying to merge it, so the source may now fit a
  neighbour it stays apart from.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

import pytest
import trio
from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fakeproc.errors import SyscallError
from fakeproc.mm import syscalls
from fakeproc.mm.mm import MMAP_MIN_ADDR, TASK_SIZE, MemoryManager
from fakeproc.mm.merge import can_merge
from fakeproc.mm.syscalls import MapFlags, MremapFlags
from fakeproc.mm.vma import PAGE_SIZE, MappedFile, VmFlags, prot_from_text, prot_to_text
from fakeproc.procfs.maps import format_maps_line
from fakeproc.sched import NeverPolicy, Preempter

P = PAGE_SIZE
ARENA_PAGES = 24
ARENA = 0x40000000 // P  # first page of the arena
MMAP_BASE = (ARENA + ARENA_PAGES) * P  # top-down placement starts at the arena's top
MIN_PAGE = MMAP_MIN_ADDR // P
TASK_PAGES = TASK_SIZE // P

FILES = {
    "a": MappedFile("/usr/lib/liba.so", 8, 1, 1001),
    "b": MappedFile("/usr/lib/libb.so", 8, 1, 1002),
}

#: (prot, shared, backing, file page offset or None for private anonymous memory, VM_ACCOUNT)
Page = tuple[str, bool, tuple, "int | None", bool]


@dataclass(frozen=True)
class Err:
    errno: int

    def __repr__(self) -> str:
        return f"Err({errno.errorcode[self.errno]})"


def pages_of(length: int) -> int:
    """PAGE_ALIGN(length) in pages."""
    return (length + P - 1) // P


# --- strategies ------------------------------------------------------------------

arena_page = st.integers(min_value=ARENA, max_value=ARENA + ARENA_PAGES - 1)
# Mostly aligned; sometimes not, to provoke EINVAL (or hint rounding).
misalign = st.sampled_from([0] * 12 + [1, 0x800, P - 1])
lengths = st.sampled_from([0, 1, P, P, P, 2 * P, 2 * P, 2 * P, 3 * P, 3 * P, 4 * P, 6 * P, P + 1, 2 * P - 1, 3 * P + 0x800])
prots = st.sampled_from(["---", "r--", "rw-", "rw-", "rw-", "rw-", "r-x", "rwx"])
kinds = st.sampled_from(["anon", "anon", "anon", "shm", "file-a", "file-b", "shared-file-a"])
mremap_flags = st.sampled_from(
    ["", "", "maymove", "maymove", "maymove,fixed", "maymove,fixed", "maymove,fixed", "maymove,dontunmap",
     "maymove,fixed,dontunmap", "maymove,fixed,dontunmap", "fixed", "dontunmap"]
)


class ModelMachine(RuleBasedStateMachine):
    """Drives one MemoryManager and the reference side by side."""

    @initialize(
        initial=st.lists(
            st.tuples(arena_page, st.integers(min_value=1, max_value=4), prots, kinds, st.booleans()), max_size=8
        )
    )
    def setup(self, initial: list[tuple[int, int, str, str, bool]]) -> None:
        self.mm = MemoryManager(Preempter(NeverPolicy()), mmap_base=MMAP_BASE)
        self.pages: dict[int, Page] = {}
        self.shm_files: dict[MappedFile, int] = {}  # shmem file of the mm -> reference token
        self.shm_tokens = 0
        self.log: list[str] = []
        #: Pages of MREMAP_DONTUNMAP sources: their VMA may have lost its anon_vma
        #: without being merged with its neighbours, as in the kernel.
        self.unlinked: set[int] = set()
        #: What the mm showed of each page's anon_vma after the last operation,
        #: and how the current operation moved pages (see settle()).
        self.anon: dict[int, object] = {}
        self.fresh: set[int] = set()
        self.carry: dict[int, int] = {}
        self.reset: set[int] = set()
        # Start from a populated arena: fixed mappings, some of them faulted in.
        for page, count, prot, kind, populate in initial:
            self.mmap("fixed", page, 0, count * P, prot, kind, 0, 0, populate)

    def pick(self, data: st.DataObject, label: str) -> int:
        """A page: mostly where something is mapped (a VMA's start, or any mapped page)."""
        choices = [arena_page]
        if self.pages:
            choices.append(st.sampled_from(sorted(self.pages)))
            choices.append(st.sampled_from([vma.start // P for vma in self.mm.vmas()]))
        return data.draw(st.one_of(*choices), label=label)

    # -- running --------------------------------------------------------------------

    def run(self, description: str, expected: object, call) -> object:  # type: ignore[no-untyped-def]
        """Run ``call(mm)`` in trio; the outcome must be ``expected`` (a value or Err)."""
        self.log.append(description)

        async def main() -> object:
            return await call(self.mm)

        try:
            got: object = trio.run(main)
        except SyscallError as error:
            got = Err(error.errno)
        assert got == expected, f"{description}: got {got!r}, the reference says {expected!r}"
        event(f"{description.split()[0]}: {got!r}" if isinstance(got, Err) else f"{description.split()[0]}: ok")
        return got

    # -- the reference's helpers ---------------------------------------------------------

    def is_free(self, first: int, count: int) -> bool:
        return not any(page in self.pages for page in range(first, first + count))

    def top_down(self, count: int) -> int | None:
        """The highest free gap below mmap_base that holds ``count`` pages (in pages)."""
        ceiling = MMAP_BASE // P
        for page in sorted((p for p in self.pages if p < ceiling), reverse=True):
            if ceiling - (page + 1) >= count:
                return ceiling - count
            ceiling = page
        return ceiling - count if ceiling - MIN_PAGE >= count else None

    def place(self, dest: int, pages: list[Page], source: int, carried: int) -> None:
        """Map ``pages`` at ``dest``; the first ``carried`` of them are moved from ``source`` on."""
        for i, page in enumerate(pages):
            self.pages[dest + i] = page
            if i < carried:
                self.carry[dest + i] = source + i
            else:
                self.fresh.add(dest + i)

    def unmap(self, first: int, count: int) -> None:
        for page in range(first, first + count):
            self.pages.pop(page, None)
            self.unlinked.discard(page)

    def extended(self, page: Page, count: int) -> list[Page]:
        """``count`` pages like ``page``, file offsets continuing from it."""
        prot, shared, backing, offset, accounted = page
        return [(prot, shared, backing, None if offset is None else offset + i, accounted) for i in range(count)]

    # -- mmap ------------------------------------------------------------------------------

    @rule(
        mode=st.sampled_from(["fixed", "fixed", "noreplace", "hint", "zero"]),
        page=arena_page,
        skew=misalign,
        length=lengths,
        prot=prots,
        kind=kinds,
        file_offset=st.integers(min_value=0, max_value=3),
        offset_skew=st.sampled_from([0] * 15 + [0x10]),
        populate=st.booleans(),
    )
    def mmap(
        self, mode: str, page: int, skew: int, length: int, prot: str, kind: str, file_offset: int,
        offset_skew: int, populate: bool,
    ) -> None:
        addr = 0 if mode == "zero" else page * P + skew
        flags = MapFlags.SHARED if kind in ("shm", "shared-file-a") else MapFlags.PRIVATE
        file = None
        offset = 0
        if kind in ("anon", "shm"):
            flags |= MapFlags.ANONYMOUS
        else:
            file = FILES[kind[-1]]
            offset = file_offset * P + offset_skew  # file_offset is in pages
        if mode == "fixed":
            flags |= MapFlags.FIXED
        elif mode == "noreplace":
            flags |= MapFlags.FIXED_NOREPLACE
        if populate:
            flags |= MapFlags.POPULATE
        count = pages_of(length)

        # The reference.
        expected: object
        first: int | None = None
        if offset % P or length == 0:
            expected = Err(errno.EINVAL)
        elif mode in ("fixed", "noreplace"):
            if addr % P:
                expected = Err(errno.EINVAL)
            elif mode == "noreplace" and not self.is_free(addr // P, count):
                expected = Err(errno.EEXIST)
            else:
                first = addr // P
        else:
            hint = addr & ~(P - 1)
            if hint and hint < MMAP_MIN_ADDR:
                hint = MMAP_MIN_ADDR
            if hint and hint // P + count <= TASK_PAGES and self.is_free(hint // P, count):
                first = hint // P
            else:
                first = self.top_down(count)
                assert first is not None, "the reference ran out of address space"
        if first is not None:
            expected = first * P

        result = self.run(
            f"mmap {addr:#x} {length:#x} {prot} {kind} {mode} offset={offset:#x}",
            expected,
            lambda mm: syscalls.mmap(mm, addr, length, prot_from_text(prot), flags, file, offset),
        )
        if isinstance(result, Err):
            self.settle()
            return
        assert first is not None
        shared = kind in ("shm", "shared-file-a")
        accounted = not shared and "w" in prot
        if kind == "shm":
            self.shm_tokens += 1
            backing: tuple = ("shm", self.shm_tokens)
            vma = self.mm.tree.lookup(first * P)
            assert vma is not None and vma.file is not None
            assert vma.file not in self.shm_files, "two shared anonymous mmaps share a file"
            self.shm_files[vma.file] = self.shm_tokens
            new = self.extended((prot, True, backing, 0, accounted), count)
        elif kind == "anon":
            new = self.extended((prot, False, ("anon",), None, accounted), count)
        else:
            new = self.extended((prot, shared, ("file", FILES[kind[-1]].path), offset // P, accounted), count)
        self.unmap(first, count)
        self.pages.update(zip(range(first, first + count), new))
        self.fresh.update(range(first, first + count))
        self.settle()

    @rule(
        data=st.data(),
        where=st.sampled_from(["after", "before", "gap"]),
        count=st.integers(min_value=1, max_value=3),
        populate=st.booleans(),
    )
    def mmap_next_to(self, data: st.DataObject, where: str, count: int, populate: bool) -> None:
        """A fixed mmap that could merge: like an existing VMA, right next to it (or filling the gap after it).

        Random mmaps rarely line up; this is what makes 3-way merges and
        anon_vma conflicts (facts 2.2, 2.3) happen often.
        """
        vmas = self.mm.vmas()
        if not vmas:
            return
        index = data.draw(st.integers(min_value=0, max_value=len(vmas) - 1), label="vma")
        vma = vmas[index]
        if where == "gap":
            if index + 1 == len(vmas) or vmas[index + 1].start == vma.end:
                return
            count = min((vmas[index + 1].start - vma.end) // P, 6)
        start = vma.end // P if where != "before" else vma.start // P - count
        if vma.file is None:
            kind, file_offset = "anon", 0
        elif vma.file.path == FILES["a"].path:
            kind = "shared-file-a" if vma.flags & VmFlags.SHARED else "file-a"
        elif vma.file.path == FILES["b"].path:
            kind = "file-b"
        else:
            return  # shared anonymous: every mmap is a new file, nothing to line up with
        if vma.file is not None:
            file_offset = vma.pgoff + vma.pages if where != "before" else vma.pgoff - count
            if file_offset < 0:
                return
        self.mmap("fixed", start, 0, count * P, prot_to_text(vma.flags), kind, file_offset, 0, populate)

    # -- munmap ----------------------------------------------------------------------------

    @rule(data=st.data(), skew=misalign, length=lengths)
    def munmap(self, data: st.DataObject, skew: int, length: int) -> None:
        page = self.pick(data, "page")
        addr = page * P + skew
        expected: object = Err(errno.EINVAL) if addr % P or length == 0 else 0
        result = self.run(
            f"munmap {addr:#x} {length:#x}",
            expected,
            lambda mm: _zero(syscalls.munmap(mm, addr, length)),
        )
        if result == 0:
            self.unmap(page, pages_of(length))
        self.settle()

    # -- mprotect --------------------------------------------------------------------------

    @rule(data=st.data(), skew=misalign, length=lengths, prot=prots)
    def mprotect(self, data: st.DataObject, skew: int, length: int, prot: str) -> None:
        page = self.pick(data, "page")
        addr = page * P + skew
        changed: list[int] = []
        expected: object
        if addr % P:
            expected = Err(errno.EINVAL)
        elif length == 0:
            expected = 0
        elif page not in self.pages:
            expected = Err(errno.ENOMEM)
        else:
            expected = 0
            for target in range(page, page + pages_of(length)):
                if target not in self.pages:
                    # Changed up to the first hole, then ENOMEM.
                    expected = Err(errno.ENOMEM)
                    break
                changed.append((target, self.mprotected(target, prot)))
        self.run(
            f"mprotect {addr:#x} {length:#x} {prot}",
            expected,
            lambda mm: _zero(syscalls.mprotect(mm, addr, length, prot_from_text(prot))),
        )
        for target, page_now in changed:
            self.pages[target] = page_now
        self.settle()

    def mprotected(self, page: int, prot: str) -> Page:
        """The page after mprotect to ``prot`` (``mprotect_fixup``'s VM_ACCOUNT rules, facts 1.2-1.5).

        Adding write to a private mapping accounts it; removing write
        unaccounts it only while it is anonymous and has no anon_vma.
        """
        old_prot, shared, backing, offset, accounted = self.pages[page]
        if prot != old_prot:
            if "w" in prot:
                accounted = accounted or (not shared and "w" not in old_prot)
            elif accounted and backing == ("anon",):
                vma = self.mm.tree.lookup(page * P)
                assert vma is not None
                accounted = vma.anon_vma is not None
        return (prot, shared, backing, offset, accounted)

    # -- mremap ----------------------------------------------------------------------------

    @rule(
        data=st.data(),
        skew=misalign,
        old_len=lengths,
        new_len=st.one_of(st.none(), lengths),
        flag_text=mremap_flags,
        new_page=arena_page,
        new_skew=misalign,
    )
    def mremap(
        self, data: st.DataObject, skew: int, old_len: int, new_len: int | None, flag_text: str, new_page: int,
        new_skew: int,
    ) -> None:
        page = self.pick(data, "old page")
        if new_len is None:
            new_len = old_len
        words = set(flag_text.split(",")) - {""}
        maymove, fixed, dontunmap = "maymove" in words, "fixed" in words, "dontunmap" in words
        flags = MremapFlags.NONE
        for word in words:
            flags |= MremapFlags[word.upper()]
        old = page * P + skew
        new_addr = new_page * P + new_skew if fixed else 0
        expected, effects = self.predict_mremap(old, old_len, new_len, maymove, fixed, dontunmap, new_addr)
        result = self.run(
            f"mremap {old:#x} {old_len:#x} {new_len:#x} {flag_text or '-'} {new_addr:#x}",
            expected,
            lambda mm: syscalls.mremap(mm, old, old_len, new_len, flags, new_addr),
        )
        if not isinstance(result, Err):
            event(f"mremap ok: {getattr(effects, '__name__', '?')}")
            effects()
            if dontunmap:
                self.unlinked.update(range(page, page + pages_of(old_len)))
                self.reset.update(range(page, page + pages_of(old_len)))
        self.settle()

    def predict_mremap(
        self, old: int, old_len: int, new_len: int, maymove: bool, fixed: bool, dontunmap: bool, new_addr: int
    ):  # type: ignore[no-untyped-def]
        """(expected result, a function applying the effects to the reference)."""
        nothing = lambda: None  # noqa: E731
        old_pages, new_pages = pages_of(old_len), pages_of(new_len)
        # Parameter checks: all EINVAL, all before the address space is looked at.
        if old % P or new_pages == 0:
            return Err(errno.EINVAL), nothing
        if fixed or dontunmap:
            if new_addr % P or not maymove:
                return Err(errno.EINVAL), nothing
            if dontunmap and old_pages != new_pages:
                return Err(errno.EINVAL), nothing
            if fixed and old < new_addr + new_pages * P and new_addr < old + old_pages * P:
                return Err(errno.EINVAL), nothing
        first = old // P
        vma = self.mm.tree.lookup(old)
        if vma is None:
            return Err(errno.EFAULT), nothing
        vma_end = vma.end // P
        vma_shared = bool(vma.flags & VmFlags.MAYSHARE)

        if fixed and old_pages == new_pages:
            return self.predict_multi_move(first, old_pages, new_addr // P, dontunmap)

        will_map_new = new_pages > old_pages or fixed or dontunmap
        if not will_map_new:
            # Shrink or same size: no check that the range is one VMA.
            def shrink() -> None:
                self.unmap(first + new_pages, old_pages - new_pages)

            return old, shrink
        if old_pages == 0 and not vma_shared:
            return Err(errno.EINVAL), nothing
        checked = min(old_pages, new_pages)
        if first + checked > vma_end:
            return Err(errno.EFAULT), nothing
        if old_pages == 0:
            # Duplicating a shared mapping: a new VMA over the same pages of the file.
            moved = self.extended(self.pages[first], new_pages)
        else:
            source = [self.pages[first + i] for i in range(checked)]
            moved = source + self.extended(source[-1], new_pages - checked + 1)[1:]

        if fixed:
            dest = new_addr // P

            def move_fixed() -> None:
                self.unmap(dest, new_pages)
                self.unmap(first, old_pages)
                self.place(dest, moved, first, checked)

            return dest * P, move_fixed
        if dontunmap:
            dest = self.top_down(new_pages)
            assert dest is not None

            def copy() -> None:
                self.place(dest, moved, first, checked)

            return dest * P, copy
        # Growing.
        if first + old_pages == vma_end and first + new_pages <= TASK_PAGES and self.is_free(
            vma_end, first + new_pages - vma_end
        ):

            def grow() -> None:
                self.place(vma_end, moved[vma_end - first :], first, 0)

            return old, grow
        if not maymove:
            return Err(errno.ENOMEM), nothing
        dest = self.top_down(new_pages)
        assert dest is not None

        def move() -> None:
            self.unmap(first, old_pages)
            self.place(dest, moved, first, checked)

        return dest * P, move

    def predict_multi_move(self, first: int, count: int, dest: int, dontunmap: bool):  # type: ignore[no-untyped-def]
        """MREMAP_FIXED with old_len == new_len: every VMA piece in the range moves by the same distance.

        Holes stay holes, and what faces them at the destination stays too.
        """
        pieces = [
            (max(start // P, first), min(end // P, first + count))
            for start, end, _ in self.mm.tree.overlapping(first * P, (first + count) * P)
        ]
        distance = dest - first

        def multi_move() -> None:
            for start, end in pieces:
                moved = [self.pages[page] for page in range(start, end)]
                self.unmap(start + distance, end - start)
                if not dontunmap:
                    self.unmap(start, end - start)
                self.place(start + distance, moved, start, end - start)

        return dest * P, multi_move

    # -- touch -----------------------------------------------------------------------------

    @rule(data=st.data(), skew=misalign, length=lengths)
    def touch(self, data: st.DataObject, skew: int, length: int) -> None:
        page = self.pick(data, "page")
        addr = page * P + skew
        expected: object
        if addr % P or length == 0:
            expected = Err(errno.EINVAL)
        elif not all(p in self.pages for p in range(page, page + pages_of(length))):
            expected = Err(errno.EFAULT)
        else:
            expected = 0
        self.run(f"touch {addr:#x} {length:#x}", expected, lambda mm: _zero(syscalls.touch(mm, addr, length)))
        self.settle()

    @rule(data=st.data())
    def touch_vma(self, data: st.DataObject) -> None:
        """Fault in one whole VMA: gives it an anon_vma when it is private and writable."""
        vmas = self.mm.vmas()
        if not vmas:
            return
        vma = data.draw(st.sampled_from(vmas), label="vma")
        start, length = vma.start, vma.end - vma.start
        self.run(f"touch {start:#x} {length:#x}", 0, lambda mm: _zero(syscalls.touch(mm, start, length)))
        self.settle()

    # -- invariants ------------------------------------------------------------------------

    def mm_pages(self) -> dict[int, Page]:
        tokens = self.shm_files
        shown: dict[int, Page] = {}
        for vma in self.mm.vmas():
            prot = prot_to_text(vma.flags)
            shared = bool(vma.flags & VmFlags.MAYSHARE)
            assert shared == bool(vma.flags & VmFlags.SHARED), vma
            if vma.file is None:
                backing: tuple = ("anon",)
            elif vma.file in tokens:
                backing = ("shm", tokens[vma.file])
            else:
                backing = ("file", vma.file.path)
            for i, page in enumerate(range(vma.start // P, vma.end // P)):
                offset = None if vma.file is None else vma.pgoff + i
                shown[page] = (prot, shared, backing, offset, bool(vma.flags & VmFlags.ACCOUNT))
        return shown

    def settle(self) -> None:
        """After each operation: a page's anon_vma is conserved.

        Once the VMA over a page has an anon_vma, that page keeps the same
        one while it stays mapped, wherever mremap moves it and whatever
        splits or merges happen around it (rmap depends on it).  It may
        change only for a page mapped afresh, and drop to None only for a
        DONTUNMAP source.  Shared mappings never have one.
        """
        now: dict[int, object] = {}
        for vma in self.mm.vmas():
            if vma.flags & VmFlags.SHARED:
                assert vma.anon_vma is None, vma
            for page in range(vma.start // P, vma.end // P):
                now[page] = vma.anon_vma
        for page, anon in now.items():
            if page in self.fresh:
                continue
            source = self.carry.get(page, page)
            before = self.anon.get(source)
            if before is None or anon is before:
                continue
            assert anon is None and source in self.reset, (
                f"after {self.log[-1]!r}: page {page:#x} (from {source:#x}) changed anon_vma {before!r} -> {anon!r}"
            )
        self.anon = now
        self.fresh, self.carry, self.reset = set(), {}, set()

    @invariant()
    def agrees_with_reference(self) -> None:
        if not hasattr(self, "mm"):
            return
        self.mm.check()
        assert not self.mm.mmap_lock.write_locked and not self.mm.mmap_lock.read_locked
        shown = self.mm_pages()
        if shown != self.pages:
            diff = sorted(
                (page, shown.get(page), self.pages.get(page))
                for page in set(shown) | set(self.pages)
                if shown.get(page) != self.pages.get(page)
            )
            raise AssertionError(
                f"mm and reference differ after {self.log[-1]!r} (page, mm, reference): {diff[:6]}"
            )
        vmas = self.mm.vmas()
        for low, high in zip(vmas, vmas[1:]):
            if low.end != high.start or not can_merge(low, high):
                continue
            # Only a DONTUNMAP source that lost its anon_vma may stay apart from a neighbour it could join.
            unlinked = (low.end // P - 1 in self.unlinked and low.anon_vma is None) or (
                high.start // P in self.unlinked and high.anon_vma is None
            )
            assert unlinked, f"adjacent mergeable VMAs left apart: {low!r} {high!r}"
            event("mergeable neighbours left apart by DONTUNMAP")
        for vma in vmas:
            assert vma.readers == 0 and not vma.detached
            # A never-faulted private anonymous VMA sits in its own pgoff frame:
            # pgoff = start >> 12 (fresh mmap, splits, growth, and copy_vma's reset on a move).
            if vma.file is None and vma.anon_vma is None:
                if not any(page in self.unlinked for page in range(vma.start // P, vma.end // P)):
                    assert vma.pgoff == vma.start // P, f"never-faulted {vma!r} has pgoff {vma.pgoff:#x}"
        # A resident page is a mapped page.
        assert all(page in self.pages for start, end in self.mm.resident for page in range(start // P, end // P))


async def _zero(awaitable) -> int:  # type: ignore[no-untyped-def]
    await awaitable
    return 0


#: MODEL_EXAMPLES=2000 for a long hunt; the default keeps the file well under 30 s.
ModelMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("MODEL_EXAMPLES", 250)),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestModel = pytest.mark.slow(ModelMachine.TestCase)


# --- the exception to "no mergeable neighbours", shown on its own ---------------------


async def test_dontunmap_source_may_stay_apart_from_a_neighbour_it_now_fits() -> None:
    """Fact 4.8: a whole-VMA DONTUNMAP drops the source's anon_vma and merges nothing.

    The source then fits its neighbour (can_merge), yet stays a separate
    VMA, as in the kernel; the state machine allows exactly this case.
    """
    mm = MemoryManager(Preempter(NeverPolicy()), mmap_base=MMAP_BASE)
    base = ARENA * P
    rw = prot_from_text("rw-")
    fixed = MapFlags.PRIVATE | MapFlags.ANONYMOUS | MapFlags.FIXED
    await syscalls.mmap(mm, base, P, rw, fixed)
    await syscalls.touch(mm, base, P)
    await syscalls.mmap(mm, base + 2 * P, P, rw, fixed)
    await syscalls.touch(mm, base + 2 * P, P)
    # Faulted apart: two anon_vmas, so filling the gap joins prev only (fact 2.2).
    await syscalls.mmap(mm, base + P, P, rw, fixed)
    low, high = mm.vmas()
    assert (low.start, low.end, high.start) == (base, base + 2 * P, base + 2 * P)
    assert not can_merge(low, high)
    moved = await syscalls.mremap(mm, base + 2 * P, P, P, MremapFlags.MAYMOVE | MremapFlags.FIXED | MremapFlags.DONTUNMAP, base + 10 * P)
    assert moved == base + 10 * P
    low, high, dest = mm.vmas()
    assert high.start == base + 2 * P and high.anon_vma is None and dest.anon_vma is not None
    assert can_merge(low, high)
    mm.check()


# --- flags inside the model are plain ints --------------------------------------------


async def test_flags_given_as_enums_are_kept_as_plain_ints() -> None:
    """VmFlags and MapFlags name bits at the edges; the VMAs hold ints, so no enum arithmetic runs per write."""
    mm = MemoryManager(Preempter(NeverPolicy()), mmap_base=MMAP_BASE)
    base = ARENA * P
    fixed = MapFlags.PRIVATE | MapFlags.ANONYMOUS | MapFlags.FIXED | MapFlags.POPULATE
    await syscalls.mmap(mm, base, 2 * P, VmFlags.READ | VmFlags.WRITE, fixed)
    mm.check()
    await syscalls.mprotect(mm, base + P, P, VmFlags.READ)
    mm.check()
    low, high = mm.vmas()
    for vma, prot in ((low, VmFlags.READ | VmFlags.WRITE), (high, VmFlags.READ)):
        assert type(vma.flags) is int, vma
        assert vma.flags & ~VmFlags.ACCOUNT == prot | VmFlags.MAYREAD | VmFlags.MAYWRITE | VmFlags.MAYEXEC
    assert low.flags & VmFlags.ACCOUNT and prot_to_text(low.flags) == "rw-" and prot_to_text(high.flags) == "r--"
    high.set_flags(VmFlags.READ | VmFlags.EXEC)
    assert type(high.flags) is int and prot_to_text(high.flags) == "r-x"


# --- no state outside the address space -----------------------------------------------


async def _shared_and_faulted_run() -> tuple[bytes, list[str]]:
    """A fresh address space: two shared anonymous mappings and a faulted private one.

    Returns the maps text and the anon_vmas' reprs, which carry their numbers.
    """
    mm = MemoryManager(Preempter(NeverPolicy()), mmap_base=MMAP_BASE)
    rw = prot_from_text("rw-")
    await syscalls.mmap(mm, 0, 2 * P, rw, MapFlags.SHARED | MapFlags.ANONYMOUS)
    await syscalls.mmap(mm, 0, P, rw, MapFlags.SHARED | MapFlags.ANONYMOUS)
    private = await syscalls.mmap(mm, 0, P, rw, MapFlags.PRIVATE | MapFlags.ANONYMOUS)
    await syscalls.touch(mm, private, P)
    maps = "".join(format_maps_line(vma) for vma in mm.vmas()).encode()
    return maps, [repr(vma.anon_vma) for vma in mm.vmas() if vma.anon_vma is not None]


async def test_identical_runs_in_one_process_give_identical_output() -> None:
    """Shmem inodes and anon_vma numbers come from the address space, not from earlier runs."""
    first = await _shared_and_faulted_run()
    second = await _shared_and_faulted_run()
    assert first == second
    maps, anon_vmas = first
    assert maps.count(b"/dev/zero (deleted)") == 2 and len(anon_vmas) == 1
