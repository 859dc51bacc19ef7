"""When two VMAs may become one, and when they may share an anon_vma.

The rules of ``is_mergeable_vma``, ``can_vma_merge_left/right`` and
``anon_vma_compatible`` as Linux 6.18 applies them; the transaction in
:mod:`.transaction` asks these questions, never the syscalls directly.
"""

from __future__ import annotations

from .vma import PROT_MASK, VM_DONTEXPAND, VM_IO, VM_PFNMAP, VM_SOFTDIRTY, AnonVma, Vma

#: Flags that never stop a merge (the kernel's VM_IGNORE_MERGE).
IGNORE_MERGE = VM_SOFTDIRTY
#: Flags that may differ between VMAs sharing an anon_vma (anon_vma_compatible).
ANON_COMPAT_IGNORE = PROT_MASK | VM_SOFTDIRTY
#: Special mappings that never merge.
UNMERGEABLE = VM_DONTEXPAND | VM_PFNMAP | VM_IO


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
