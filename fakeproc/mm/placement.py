"""Where a mapping goes: top-down placement below ``mmap_base`` and the fixed-address checks.

The x86-64 rules of ``get_unmapped_area`` and ``__get_unmapped_area``, with
``stack_guard_gap`` kept below growsdown VMAs and the 2 MiB alignment of
large anonymous mappings (``__thp_get_unmapped_area``).
"""

from __future__ import annotations

import errno

from ..errors import SyscallError
from .mm import TASK_SIZE, MemoryManager
from .vma import PAGE_SIZE, VM_GROWSDOWN, Vma

#: stack_guard_gap: no placement without MAP_FIXED comes this close below a growsdown VMA.
STACK_GUARD_GAP = 256 * PAGE_SIZE
#: A PMD: the size of a transparent huge page.
HUGE_PAGE_SIZE = 2 << 20


def page_align(length: int) -> int:
    return (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def in_task_range(start: int, length: int) -> bool:
    return 0 <= start and length <= TASK_SIZE and start <= TASK_SIZE - length


def _gap_start(start: int, vma: Vma) -> int:
    """The lowest address a placed mapping may end at below ``vma`` (``vm_start_gap``)."""
    return max(start - STACK_GUARD_GAP, 0) if vma.flags & VM_GROWSDOWN else start


def _hint_fits(mm: MemoryManager, hint: int, length: int) -> bool:
    if not in_task_range(hint, length):
        return False
    above = mm.tree.find(hint)
    return above is None or hint + length <= _gap_start(above[0], above[2])


def get_unmapped_area(mm: MemoryManager, hint: int, length: int) -> int:
    """Top-down placement like x86-64: the hint if free, else the highest gap below mmap_base.

    Gaps keep ``stack_guard_gap`` below growsdown VMAs.  O(log n + k), k
    being the VMAs walked past below mmap_base.
    """
    if length > TASK_SIZE:
        raise SyscallError(errno.ENOMEM, "length exceeds the address space")
    hint &= ~(PAGE_SIZE - 1)
    if hint and _hint_fits(mm, hint, length):
        return hint
    ceiling = mm.mmap_base
    for start, end, vma in mm.tree.iter_down_from(ceiling):
        if end <= ceiling and ceiling - end >= length:
            return ceiling - length
        ceiling = min(ceiling, _gap_start(start, vma))
    if ceiling - max(mm.limits.mmap_min_addr, PAGE_SIZE) >= length:
        return ceiling - length
    raise SyscallError(errno.ENOMEM, f"no free gap of {length:#x} bytes below mmap_base")


def huge_aligned_area(mm: MemoryManager, length: int, offset: int) -> int:
    """A no-hint placement whose start is congruent to ``offset`` modulo 2 MiB (``__thp_get_unmapped_area``).

    A gap 2 MiB longer than asked for is found top-down; the mapping takes
    its highest suitably aligned start.  Without such a gap, the plain
    placement, as when the mapping holds no whole aligned huge page.
    O(log n + k) like :func:`get_unmapped_area`.
    """
    if length - (-offset % HUGE_PAGE_SIZE) < HUGE_PAGE_SIZE:
        return get_unmapped_area(mm, 0, length)
    try:
        padded = get_unmapped_area(mm, 0, length + HUGE_PAGE_SIZE)
    except SyscallError:
        return get_unmapped_area(mm, 0, length)
    shift = (offset - padded) % HUGE_PAGE_SIZE
    # Top-down, an already aligned gap start means the aligned slot at its top is free too.
    return padded + (shift or HUGE_PAGE_SIZE)


def mmap_address(mm: MemoryManager, addr: int, length: int, fixed: bool) -> int:
    """``__get_unmapped_area``: a fixed address is checked, any other one chosen."""
    if not fixed:
        return get_unmapped_area(mm, addr, length)
    if length > TASK_SIZE or addr > TASK_SIZE - length:
        raise SyscallError(errno.ENOMEM, "range is beyond the address space")
    if addr % PAGE_SIZE:
        raise SyscallError(errno.EINVAL, "fixed address is not page aligned")
    if addr < mm.limits.mmap_min_addr:
        raise SyscallError(errno.EPERM, "address below vm.mmap_min_addr")
    return addr
