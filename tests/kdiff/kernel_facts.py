"""KERNEL_FACTS.md as data: scenarios recorded from the real kernel.

Each :class:`Fact` is a sequence of ctl-style operations with addresses
relative to an arena (see arena.c), the result the kernel gave for each one,
and the arena's maps lines after the last operation.  They were recorded on
Linux 6.18 (x86-64, 4 KiB pages, vm.overcommit_memory=0, THP "madvise") with
``kernel.run_kernel_steps`` and are replayed against the kernel by
test_kernel_facts.py; a model test can replay them against fakeproc.

Conventions:
- an expected result ``"outside"`` matches any ``"outside 0x..."`` line
  (MAYMOVE without FIXED; the kernel picks an address outside the arena);
- lines of shared anonymous mappings are compared after
  ``kernel.normalize_shmem_inodes`` (their inode numbers vary between runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fact:
    id: str
    title: str
    steps: tuple[tuple[str, str], ...]  # (operation, expected result line)
    lines: tuple[str, ...]  # arena maps lines after the last step

    @property
    def ops(self) -> list[str]:
        return [op for op, _ in self.steps]


FACTS: tuple[Fact, ...] = (
    Fact(
        '1.1',
        'adjacent private anon mmaps with equal prot merge',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 rw- private,anonymous', '0x1000'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '1.2',
        'never-faulted rw- made r-- loses VM_ACCOUNT: merges with a fresh r--',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mprotect 0 0x1000 r--', '0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
        ),
        lines=(
            '00000000-00002000 r--p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '1.3',
        'faulted rw- made r-- keeps VM_ACCOUNT: does not merge with a fresh r--',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('touch 0 0x1000', '0'),
            ('mprotect 0 0x1000 r--', '0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
        ),
        lines=(
            '00000000-00001000 r--p 00000000 00:00 0 ',
            '00001000-00002000 r--p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '1.4',
        'r-- made rw- gains VM_ACCOUNT: merges with rw- neighbours',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mprotect 0x1000 0x1000 rw-', '0'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '1.5',
        'MAP_NORESERVE (VM_NORESERVE) never merges with a normal mapping; it never gains VM_ACCOUNT',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous,noreserve', '0x0'),
            ('mmap 0x1000 0x1000 rw- private,anonymous', '0x1000'),
            ('mmap 0x10000 0x1000 r-- private,anonymous,noreserve', '0x10000'),
            ('mmap 0x11000 0x1000 r-- private,anonymous', '0x11000'),
            ('mmap 0x20000 0x1000 r-- private,anonymous,noreserve', '0x20000'),
            ('mprotect 0x20000 0x1000 rw-', '0'),
            ('mmap 0x21000 0x1000 rw- private,anonymous,noreserve', '0x21000'),
        ),
        lines=(
            '00000000-00001000 rw-p 00000000 00:00 0 ',
            '00001000-00002000 rw-p 00000000 00:00 0 ',
            '00010000-00011000 r--p 00000000 00:00 0 ',
            '00011000-00012000 r--p 00000000 00:00 0 ',
            '00020000-00022000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '1.6',
        'read-touch and populate of r-- attach no anon_vma; populate of rw- does',
        steps=(
            ('mmap 0 0x1000 r-- private,anonymous', '0x0'),
            ('touch 0 0x1000', '0'),
            ('mprotect 0 0x1000 rw-', '0'),
            ('mprotect 0 0x1000 r--', '0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mmap 0x10000 0x1000 r-- private,anonymous,populate', '0x10000'),
            ('mprotect 0x10000 0x1000 rw-', '0'),
            ('mprotect 0x10000 0x1000 r--', '0'),
            ('mmap 0x11000 0x1000 r-- private,anonymous', '0x11000'),
            ('mmap 0x20000 0x1000 rw- private,anonymous,populate', '0x20000'),
            ('mprotect 0x20000 0x1000 r--', '0'),
            ('mmap 0x21000 0x1000 r-- private,anonymous', '0x21000'),
        ),
        lines=(
            '00000000-00002000 r--p 00000000 00:00 0 ',
            '00010000-00012000 r--p 00000000 00:00 0 ',
            '00020000-00021000 r--p 00000000 00:00 0 ',
            '00021000-00022000 r--p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '1.7',
        'populate itself is not a merge barrier',
        steps=(
            ('mmap 0 0x2000 rw- private,anonymous', '0x0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous,populate', '0x2000'),
        ),
        lines=(
            '00000000-00003000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '2.1',
        'faulted VMA + fresh adjacent VMA merge',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('touch 0 0x1000', '0'),
            ('mmap 0x1000 0x1000 rw- private,anonymous', '0x1000'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '2.2',
        'two VMAs faulted while apart have different anon_vmas: filling the gap merges with prev only',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('touch 0 0x1000', '0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('touch 0x2000 0x1000', '0'),
            ('mmap 0x1000 0x1000 rw- private,anonymous', '0x1000'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
            '00002000-00003000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '2.3',
        'prev never faulted, next faulted: filling the gap merges all three',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('touch 0x2000 0x1000', '0'),
            ('mmap 0x1000 0x1000 rw- private,anonymous', '0x1000'),
        ),
        lines=(
            '00000000-00003000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '2.4',
        "first fault reuses an adjacent VMA's anon_vma if flags differ only in rwx (next tried before prev)",
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('touch 0 0x1000', '0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('touch 0x2000 0x1000', '0'),
            ('mmap 0x1000 0x1000 rwx private,anonymous', '0x1000'),
            ('touch 0x1000 0x1000', '0'),
            ('mprotect 0x1000 0x1000 rw-', '0'),
        ),
        lines=(
            '00000000-00001000 rw-p 00000000 00:00 0 ',
            '00001000-00003000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '2.5',
        'VMAs faulted apart, made adjacent (grow in place): never merge, even after mprotect over both',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('touch 0 0x1000', '0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('touch 0x2000 0x1000', '0'),
            ('mremap 0 0x1000 0x2000 -', '0x0'),
            ('mprotect 0 0x3000 r--', '0'),
            ('mprotect 0 0x3000 rw-', '0'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
            '00002000-00003000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '2.6',
        "mprotect of a fresh middle VMA: joins prev when both neighbours fit but their anon_vmas differ; joins next when prev's flags differ",
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('touch 0 0x1000', '0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('touch 0x2000 0x1000', '0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mprotect 0x1000 0x1000 rw-', '0'),
            ('mmap 0x10000 0x1000 r-x private,anonymous', '0x10000'),
            ('mmap 0x12000 0x1000 rw- private,anonymous', '0x12000'),
            ('touch 0x12000 0x1000', '0'),
            ('mmap 0x11000 0x1000 r-- private,anonymous', '0x11000'),
            ('mprotect 0x11000 0x1000 rw-', '0'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
            '00002000-00003000 rw-p 00000000 00:00 0 ',
            '00010000-00011000 r-xp 00000000 00:00 0 ',
            '00011000-00013000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '3.1',
        'moving a never-faulted VMA gives it pgoff = new address: it merges at the destination (both sides)',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('mmap 0x9000 0x1000 rw- private,anonymous', '0x9000'),
            ('mremap 0x9000 0x1000 0x1000 maymove,fixed 0x1000', '0x1000'),
        ),
        lines=(
            '00000000-00003000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '3.2',
        'a faulted VMA keeps pgoff and anon_vma when moved: no merge with fresh neighbours there; merges again once back home',
        steps=(
            ('mmap 0x5000 0x1000 rw- private,anonymous', '0x5000'),
            ('touch 0x5000 0x1000', '0'),
            ('mremap 0x5000 0x1000 0x1000 maymove,fixed 0x11000', '0x11000'),
            ('mmap 0x10000 0x1000 rw- private,anonymous', '0x10000'),
            ('mmap 0x12000 0x1000 rw- private,anonymous', '0x12000'),
            ('mremap 0x11000 0x1000 0x1000 maymove,fixed 0x5000', '0x5000'),
            ('mmap 0x4000 0x1000 rw- private,anonymous', '0x4000'),
            ('mmap 0x6000 0x1000 rw- private,anonymous', '0x6000'),
        ),
        lines=(
            '00004000-00007000 rw-p 00000000 00:00 0 ',
            '00010000-00011000 rw-p 00000000 00:00 0 ',
            '00012000-00013000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '3.3',
        'pieces of one faulted VMA moved together keep contiguous pgoff and re-merge',
        steps=(
            ('mmap 0 0x3000 rw- private,anonymous', '0x0'),
            ('touch 0 0x3000', '0'),
            ('mprotect 0x1000 0x1000 r--', '0'),
            ('mremap 0 0x3000 0x3000 maymove,fixed 0x40000', '0x40000'),
            ('mprotect 0x41000 0x1000 rw-', '0'),
        ),
        lines=(
            '00040000-00043000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '3.4',
        'MAP_FIXED into the middle of a faulted VMA re-merges (pgoff = address); into a moved faulted VMA it does not',
        steps=(
            ('mmap 0 0x3000 rw- private,anonymous', '0x0'),
            ('touch 0 0x3000', '0'),
            ('mmap 0x1000 0x1000 rw- private,anonymous', '0x1000'),
            ('mmap 0x10000 0x3000 rw- private,anonymous', '0x10000'),
            ('touch 0x10000 0x3000', '0'),
            ('mremap 0x10000 0x3000 0x3000 maymove,fixed 0x20000', '0x20000'),
            ('mmap 0x21000 0x1000 rw- private,anonymous', '0x21000'),
        ),
        lines=(
            '00000000-00003000 rw-p 00000000 00:00 0 ',
            '00020000-00021000 rw-p 00000000 00:00 0 ',
            '00021000-00022000 rw-p 00000000 00:00 0 ',
            '00022000-00023000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.1',
        'shrink, grow in place, same size, grow blocked',
        steps=(
            ('mmap 0 0x3000 rw- private,anonymous', '0x0'),
            ('mremap 0 0x3000 0x1000', '0x0'),
            ('mremap 0 0x1000 0x2000', '0x0'),
            ('mremap 0 0x2000 0x2000', '0x0'),
            ('mmap 0x3000 0x1000 r-- private,anonymous', '0x3000'),
            ('mremap 0 0x2000 0x3000', '0x0'),
            ('mremap 0 0x3000 0x4000', 'error: ENOMEM'),
            ('mremap 0 0x3000 0x3000 maymove,fixed 0x10000', '0x10000'),
        ),
        lines=(
            '00003000-00004000 r--p 00000000 00:00 0 ',
            '00010000-00013000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.2',
        'grow in place merges with a compatible next VMA',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('mremap 0 0x1000 0x2000', '0x0'),
        ),
        lines=(
            '00000000-00003000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.3',
        'old range must be inside one VMA unless shrinking or same size',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mremap 0 0x2000 0x3000', 'error: EFAULT'),
            ('mremap 0 0x2000 0x3000 maymove', 'error: EFAULT'),
            ('mremap 0 0x3000 0x3000', '0x0'),
            ('mremap 0 0x2000 0x2000 maymove', '0x0'),
            ('mremap 0 0x5000 0x1000', '0x0'),
        ),
        lines=(
            '00000000-00001000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.4',
        'growing a prefix of a VMA needs a move; FIXED move replaces the destination; shrink+move',
        steps=(
            ('mmap 0 0x3000 rw- private,anonymous', '0x0'),
            ('mmap 0x10000 0x4000 r-x private,anonymous', '0x10000'),
            ('mremap 0 0x1000 0x2000', 'error: ENOMEM'),
            ('mremap 0 0x1000 0x2000 maymove,fixed 0x11000', '0x11000'),
            ('mmap 0x20000 0x3000 rw- private,anonymous', '0x20000'),
            ('mremap 0x20000 0x3000 0x1000 maymove,fixed 0x30000', '0x30000'),
        ),
        lines=(
            '00001000-00003000 rw-p 00000000 00:00 0 ',
            '00010000-00011000 r-xp 00000000 00:00 0 ',
            '00011000-00013000 rw-p 00000000 00:00 0 ',
            '00013000-00014000 r-xp 00000000 00:00 0 ',
            '00030000-00031000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.5',
        'MAYMOVE without FIXED may leave the arena (top-down placement); the moved range leaves the source, the rest of the VMA stays',
        steps=(
            ('mmap 0 0x2000 rw- private,anonymous', '0x0'),
            ('mmap 0x2000 0x1000 r-- private,anonymous', '0x2000'),
            ('mremap 0 0x1000 0x2000 maymove', 'outside'),
        ),
        lines=(
            '00001000-00002000 rw-p 00000000 00:00 0 ',
            '00002000-00003000 r--p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.6',
        'parameter errors: unaligned, new_len 0, FIXED without MAYMOVE, DONTUNMAP without MAYMOVE or with resize, overlap, unaligned new address; lengths are page-rounded',
        steps=(
            ('mmap 0 0x2000 rw- private,anonymous', '0x0'),
            ('mremap 0x800 0x1000 0x1000', 'error: EINVAL'),
            ('mremap 0 0x1000 0', 'error: EINVAL'),
            ('mremap 0 0x1000 0x1000 fixed 0x10000', 'error: EINVAL'),
            ('mremap 0 0x1000 0x1000 dontunmap', 'error: EINVAL'),
            ('mremap 0 0x1000 0x1000 dontunmap 0x10000', 'error: EINVAL'),
            ('mremap 0 0x1000 0x2000 maymove,dontunmap,fixed 0x10000', 'error: EINVAL'),
            ('mremap 0 0x1000 0x1000 maymove,fixed 0x800', 'error: EINVAL'),
            ('mremap 0 0x1000 0x1000 maymove,fixed 0x10800', 'error: EINVAL'),
            ('mremap 0 0x1800 0x1001', '0x0'),
            ('mremap 0 0x1 0x2001', 'error: ENOMEM'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.7',
        'old_len 0: EINVAL on private; on shared it duplicates (needs MAYMOVE, else ENOMEM); pgoff follows the source',
        steps=(
            ('mmap 0 0x2000 rw- private,anonymous', '0x0'),
            ('mmap 0x10000 0x2000 rw- shared,anonymous', '0x10000'),
            ('mremap 0 0 0x1000 maymove,fixed 0x20000', 'error: EINVAL'),
            ('mremap 0x10000 0 0x1000', 'error: ENOMEM'),
            ('mremap 0x10000 0 0x1000 maymove,fixed 0x30000', '0x30000'),
            ('mremap 0x11000 0 0x2000 maymove,fixed 0x38000', '0x38000'),
            ('mremap 0x10000 0 0x1000 maymove,dontunmap,fixed 0x40000', 'error: EINVAL'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
            '00010000-00012000 rw-s 00000000 00:01 1                                  /dev/zero (deleted)',
            '00030000-00031000 rw-s 00000000 00:01 1                                  /dev/zero (deleted)',
            '00038000-0003a000 rw-s 00001000 00:01 1                                  /dev/zero (deleted)',
        ),
    ),
    Fact(
        '4.8',
        'DONTUNMAP: source VMA stays (not split, same prot, keeps VM_ACCOUNT); whole-VMA move drops the source anon_vma',
        steps=(
            ('mmap 0x1000 0x1000 rw- private,anonymous', '0x1000'),
            ('touch 0x1000 0x1000', '0'),
            ('mmap 0x3000 0x1000 rw- private,anonymous', '0x3000'),
            ('touch 0x3000 0x1000', '0'),
            ('mremap 0x1000 0x1000 0x1000 maymove,dontunmap,fixed 0x20000', '0x20000'),
            ('mremap 0x1000 0x1000 0x2000', '0x1000'),
            ('mmap 0x30000 0x1000 rw- private,anonymous', '0x30000'),
            ('mremap 0x30000 0x1000 0x1000 maymove,dontunmap,fixed 0x40000', '0x40000'),
            ('mmap 0x31000 0x1000 rw- private,anonymous', '0x31000'),
            ('mmap 0x41000 0x1000 rw- private,anonymous', '0x41000'),
            ('mmap 0x50000 0x3000 rw- private,anonymous', '0x50000'),
            ('touch 0x50000 0x3000', '0'),
            ('mremap 0x51000 0x1000 0x1000 maymove,dontunmap,fixed 0x60000', '0x60000'),
        ),
        lines=(
            '00001000-00004000 rw-p 00000000 00:00 0 ',
            '00020000-00021000 rw-p 00000000 00:00 0 ',
            '00030000-00032000 rw-p 00000000 00:00 0 ',
            '00040000-00042000 rw-p 00000000 00:00 0 ',
            '00050000-00053000 rw-p 00000000 00:00 0 ',
            '00060000-00061000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.9',
        'DONTUNMAP works on shared anonymous too',
        steps=(
            ('mmap 0x10000 0x2000 rw- shared,anonymous', '0x10000'),
            ('mremap 0x10000 0x1000 0x1000 maymove,dontunmap,fixed 0x20000', '0x20000'),
        ),
        lines=(
            '00010000-00012000 rw-s 00000000 00:01 1                                  /dev/zero (deleted)',
            '00020000-00021000 rw-s 00000000 00:01 1                                  /dev/zero (deleted)',
        ),
    ),
    Fact(
        '4.10',
        'multi-VMA move (recent kernels): MAYMOVE|FIXED and old_len == new_len may span VMAs and holes',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mmap 0x3000 0x1000 rw- private,anonymous', '0x3000'),
            ('mremap 0 0x4000 0x4000 maymove,fixed 0x20000', '0x20000'),
            ('mremap 0x1f000 0x3000 0x3000 maymove,fixed 0x30000', 'error: EFAULT'),
            ('mremap 0x20000 0x4000 0x5000 maymove,fixed 0x40000', 'error: EFAULT'),
            ('mremap 0x20000 0x4000 0x4000 maymove,dontunmap 0x50000', 'error: EFAULT'),
            ('mmap 0x60000 0x3000 rw- private,anonymous', '0x60000'),
            ('mprotect 0x62000 0x1000 r--', '0'),
            ('mremap 0x61000 0x2000 0x2000 maymove,fixed 0x70000', '0x70000'),
        ),
        lines=(
            '00020000-00021000 rw-p 00000000 00:00 0 ',
            '00021000-00022000 r--p 00000000 00:00 0 ',
            '00023000-00024000 rw-p 00000000 00:00 0 ',
            '00060000-00061000 rw-p 00000000 00:00 0 ',
            '00070000-00071000 rw-p 00000000 00:00 0 ',
            '00071000-00072000 r--p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '4.11',
        'multi-VMA move: only the destination pieces under moved VMAs are replaced; holes keep what is there',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x2000 0x1000 rw- private,anonymous', '0x2000'),
            ('mmap 0x10000 0x3000 r-x private,anonymous', '0x10000'),
            ('mremap 0 0x3000 0x3000 maymove,fixed 0x10000', '0x10000'),
            ('mmap 0x20000 0x1000 rw- private,anonymous', '0x20000'),
            ('mmap 0x31000 0x2000 r-x private,anonymous', '0x31000'),
            ('mremap 0x20000 0x3000 0x3000 maymove,fixed 0x30000', '0x30000'),
        ),
        lines=(
            '00010000-00011000 rw-p 00000000 00:00 0 ',
            '00011000-00012000 r-xp 00000000 00:00 0 ',
            '00012000-00013000 rw-p 00000000 00:00 0 ',
            '00030000-00031000 rw-p 00000000 00:00 0 ',
            '00031000-00033000 r-xp 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '5.1',
        'MAP_FIXED over several VMAs (length page-rounded); munmap splits; munmap of a hole is 0; unaligned or empty munmap EINVAL',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mmap 0x2000 0x1000 rwx private,anonymous', '0x2000'),
            ('mmap 0x3000 0x1000 --- private,anonymous', '0x3000'),
            ('mmap 0x1000 0x2800 r-x private,anonymous', '0x1000'),
            ('munmap 0x2000 0x1000', '0'),
            ('munmap 0x10000 0x5000', '0'),
            ('munmap 0x800 0x1000', 'error: EINVAL'),
            ('munmap 0 0', 'error: EINVAL'),
            ('munmap 0x1000 0x1', '0'),
        ),
        lines=(
            '00000000-00001000 rw-p 00000000 00:00 0 ',
            '00003000-00004000 r-xp 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '5.2',
        'mprotect: changes stop at the first hole (VMAs before it ARE changed) and return ENOMEM; start in a hole changes nothing',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mmap 0x3000 0x1000 rw- private,anonymous', '0x3000'),
            ('mprotect 0 0x4000 r-x', 'error: ENOMEM'),
            ('mprotect 0x2000 0x2000 ---', 'error: ENOMEM'),
            ('mprotect 0x3000 0x2000 ---', 'error: ENOMEM'),
        ),
        lines=(
            '00000000-00002000 r-xp 00000000 00:00 0 ',
            '00003000-00004000 ---p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '5.3',
        'mprotect: unaligned start EINVAL (before hole checks); len 0 is 0 even on a hole; len page-rounded',
        steps=(
            ('mmap 0 0x2000 rw- private,anonymous', '0x0'),
            ('mprotect 0x800 0x1000 r--', 'error: EINVAL'),
            ('mprotect 0x4800 0x1000 r--', 'error: EINVAL'),
            ('mprotect 0x800 0 r--', 'error: EINVAL'),
            ('mprotect 0x8000 0 r--', '0'),
            ('mprotect 0 0x1 r--', '0'),
        ),
        lines=(
            '00000000-00001000 r--p 00000000 00:00 0 ',
            '00001000-00002000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '5.4',
        'mmap errors: len 0, unaligned, NOREPLACE overlap (after page rounding), type errors',
        steps=(
            ('mmap 0 0x2000 rw- private,anonymous', '0x0'),
            ('mmap 0x8000 0 rw- private,anonymous', 'error: EINVAL'),
            ('mmap 0x8800 0x1000 rw- private,anonymous', 'error: EINVAL'),
            ('mmap 0x800 0x1000 rw- private,anonymous,fixed_noreplace', 'error: EINVAL'),
            ('mmap 0x1000 0x1000 rw- private,anonymous,fixed_noreplace', 'error: EEXIST'),
            ('mmap 0x2000 0x1000 rw- private,anonymous,fixed_noreplace', '0x2000'),
            ('mmap 0x3000 0x1 rw- private,anonymous,fixed_noreplace', '0x3000'),
            ('mmap 0x4000 0x1000 rw- private,anonymous,fixed_noreplace', '0x4000'),
            ('mmap 0x8000 0x1000 rw- anonymous', 'error: EINVAL'),
            ('mmap 0x8000 0x1000 rw- private,shared,anonymous', 'error: EINVAL'),
            ('mmap 0x8000 0x1000 rw- shared,anonymous,growsdown', 'error: EINVAL'),
            ('mmap 0x8000 0x1000 rw- private', 'error: EBADF'),
            ('mmap 0x8000 0 rw- private', 'error: EBADF'),
        ),
        lines=(
            '00000000-00005000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '6.1',
        'growsdown: shows as plain anon, merges only with growsdown; MAP_FIXED right below it is allowed',
        steps=(
            ('mmap 0x10000 0x2000 rw- private,anonymous,growsdown', '0x10000'),
            ('mmap 0x12000 0x1000 rw- private,anonymous,growsdown', '0x12000'),
            ('mmap 0xe000 0x2000 rw- private,anonymous', '0xe000'),
            ('mmap 0x13000 0x1000 rw- private,anonymous', '0x13000'),
        ),
        lines=(
            '0000e000-00010000 rw-p 00000000 00:00 0 ',
            '00010000-00013000 rw-p 00000000 00:00 0 ',
            '00013000-00014000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '6.2',
        'shared anonymous: /dev/zero (deleted), dev 00:01, one shmem inode per mmap, offset = pgoff; separate mmaps never merge; pieces of one mmap re-merge (mprotect back, move back)',
        steps=(
            ('mmap 0 0x1000 rw- shared,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 rw- shared,anonymous', '0x1000'),
            ('mmap 0x10000 0x3000 rw- shared,anonymous', '0x10000'),
            ('mprotect 0x11000 0x1000 r--', '0'),
            ('mremap 0x12000 0x1000 0x1000 maymove,fixed 0x20000', '0x20000'),
            ('mprotect 0x11000 0x1000 rw-', '0'),
            ('mremap 0x20000 0x1000 0x1000 maymove,fixed 0x12000', '0x12000'),
            ('mmap 0x30000 0x3000 rw- shared,anonymous', '0x30000'),
            ('munmap 0x31000 0x1000', '0'),
        ),
        lines=(
            '00000000-00001000 rw-s 00000000 00:01 1                                  /dev/zero (deleted)',
            '00001000-00002000 rw-s 00000000 00:01 2                                  /dev/zero (deleted)',
            '00010000-00013000 rw-s 00000000 00:01 3                                  /dev/zero (deleted)',
            '00030000-00031000 rw-s 00000000 00:01 4                                  /dev/zero (deleted)',
            '00032000-00033000 rw-s 00002000 00:01 4                                  /dev/zero (deleted)',
        ),
    ),
    Fact(
        '6.3',
        'shared anonymous grows and shrinks in place',
        steps=(
            ('mmap 0 0x2000 rw- shared,anonymous', '0x0'),
            ('mremap 0 0x2000 0x3000', '0x0'),
            ('mremap 0 0x3000 0x1000', '0x0'),
        ),
        lines=(
            '00000000-00001000 rw-s 00000000 00:01 1                                  /dev/zero (deleted)',
        ),
    ),
    Fact(
        '7.1',
        'mmap order: EBADF (no anonymous) > len 0 > NOREPLACE overlap EEXIST > type (shared+growsdown, no type)',
        steps=(
            ('mmap 0 0x2000 rw- private,anonymous', '0x0'),
            ('mmap 0x800 0 rw- private', 'error: EBADF'),
            ('mmap 0 0x1000 rw- anonymous,fixed_noreplace', 'error: EEXIST'),
            ('mmap 0 0 rw- anonymous,fixed_noreplace', 'error: EINVAL'),
            ('mmap 0 0x1000 rw- shared,anonymous,growsdown,fixed_noreplace', 'error: EEXIST'),
            ('mmap 0x800 0 rw- private,anonymous', 'error: EINVAL'),
            ('mmap 0x800 0x1000 rw- private,anonymous,fixed_noreplace', 'error: EINVAL'),
        ),
        lines=(
            '00000000-00002000 rw-p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '7.2',
        'mremap order: parameter EINVALs before the VMA lookup (EFAULT); EFAULT before old_len-0 EINVAL and before ENOMEM',
        steps=(
            ('mmap 0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 r-- private,anonymous', '0x1000'),
            ('mremap 0x8800 0x1000 0x1000', 'error: EINVAL'),
            ('mremap 0x8000 0x1000 0x1000 maymove,fixed 0x8000', 'error: EINVAL'),
            ('mremap 0x8000 0x1000 0x1000 fixed 0x20000', 'error: EINVAL'),
            ('mremap 0x8000 0 0x1000 maymove,fixed 0x20000', 'error: EFAULT'),
            ('mremap 0x8000 0x1000 0x1000', 'error: EFAULT'),
            ('mremap 0 0x2000 0x3000', 'error: EFAULT'),
            ('mremap 0 0 0x1000 maymove', 'error: EINVAL'),
            ('mremap 0 0x1000 0x2000', 'error: ENOMEM'),
        ),
        lines=(
            '00000000-00001000 rw-p 00000000 00:00 0 ',
            '00001000-00002000 r--p 00000000 00:00 0 ',
        ),
    ),
)

BY_ID = {fact.id: fact for fact in FACTS}

#: Host settings that sections 8, 10 and 11 of KERNEL_FACTS.md depend on, as recorded.
HOST_SETTINGS: dict[str, str] = {
    "/proc/sys/vm/mmap_min_addr": "4096",
    "/proc/sys/vm/max_map_count": "65530",
    "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
    "/sys/kernel/mm/transparent_hugepage/shmem_enabled": "always within_size advise [never] deny force",
}

#: The recorded facts whose kernel answers depend on host settings, and on which.
#: (Section 8's max_map_count walk is built from the host's own value.)
SETTINGS_OF_FACT: dict[str, tuple[str, ...]] = {
    "11.1": ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/shmem_enabled"),
    "11.2": ("/proc/sys/vm/mmap_min_addr",),
}


def _read_setting(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return "(absent)"


def host_differences(fact_id: str, read: Callable[[str], str] = _read_setting) -> str | None:
    """Why this host's kernel cannot give fact ``fact_id``'s recorded answers (a setting it depends on differs), or None."""
    for path in SETTINGS_OF_FACT.get(fact_id, ()):
        value = read(path)
        if value != HOST_SETTINGS[path]:
            return f"fact {fact_id} was recorded with {path} = {HOST_SETTINGS[path]!r}; this host has {value!r}"
    return None

#: File-backed mappings and placement without a hint (sections 10 and 11).
#: Operations and lines name the files of ``files.py`` as ``{files}/NAME``, and
#: a file's device and inode columns as ``{dev} {inode}``
#: (``files.render_lines``).  fd numbers are the helper's: 0-2 are its stdio.
#: Kept apart from FACTS because they need those files made first.
FILE_FACTS: tuple[Fact, ...] = (
    Fact(
        '10.1',
        'a file mapping merges only with mappings of the same open file description: two opens never merge, the same fd twice does',
        steps=(
            ('open {files}/two-pages r', '3'),
            ('open {files}/two-pages r', '4'),
            ('mmap 0 0x1000 r-- private fd=3 0', '0x0'),
            ('mmap 0x1000 0x1000 r-- private fd=4 0x1000', '0x1000'),
            ('mmap 0x10000 0x1000 r-- private fd=3 0', '0x10000'),
            ('mmap 0x11000 0x1000 r-- private fd=3 0x1000', '0x11000'),
            ('mmap 0x20000 0x1000 r-- shared fd=3 0', '0x20000'),
            ('mmap 0x21000 0x1000 r-- shared fd=4 0x1000', '0x21000'),
            ('mmap 0x30000 0x1000 r-- shared fd=3 0', '0x30000'),
            ('mmap 0x31000 0x1000 r-- shared fd=3 0x1000', '0x31000'),
            ('mmap 0x40000 0x1000 r-- private {files}/two-pages 0', '0x40000'),
            ('mmap 0x41000 0x1000 r-- private {files}/two-pages 0x1000', '0x41000'),
            ('mmap 0x50000 0x1000 r-- private fd=3 0', '0x50000'),
            ('mmap 0x51000 0x1000 r-- private fd=3 0', '0x51000'),
        ),
        lines=(
            '00000000-00001000 r--p 00000000 {dev} {inode} {files}/two-pages',
            '00001000-00002000 r--p 00001000 {dev} {inode} {files}/two-pages',
            '00010000-00012000 r--p 00000000 {dev} {inode} {files}/two-pages',
            '00020000-00021000 r--s 00000000 {dev} {inode} {files}/two-pages',
            '00021000-00022000 r--s 00001000 {dev} {inode} {files}/two-pages',
            '00030000-00032000 r--s 00000000 {dev} {inode} {files}/two-pages',
            '00040000-00041000 r--p 00000000 {dev} {inode} {files}/two-pages',
            '00041000-00042000 r--p 00001000 {dev} {inode} {files}/two-pages',
            '00050000-00051000 r--p 00000000 {dev} {inode} {files}/two-pages',
            '00051000-00052000 r--p 00000000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.2',
        'mappings outlive their fd; a reused fd number is a new open (no merge); pieces of one mapping re-merge after the close',
        steps=(
            ('open {files}/two-pages r', '3'),
            ('open {files}/two-pages r', '4'),
            ('mmap 0x10000 0x1000 r-- private fd=3 0', '0x10000'),
            ('close 3', '0'),
            ('open {files}/two-pages r', '3'),
            ('mmap 0x11000 0x1000 r-- private fd=3 0x1000', '0x11000'),
            ('mmap 0x20000 0x2000 r-- private fd=4 0', '0x20000'),
            ('close 4', '0'),
            ('mprotect 0x20000 0x1000 ---', '0'),
            ('mprotect 0x20000 0x1000 r--', '0'),
            ('close 4', 'error: EBADF'),
            ('mmap 0x30000 0x1000 r-- private fd=4 0', 'error: EBADF'),
        ),
        lines=(
            '00010000-00011000 r--p 00000000 {dev} {inode} {files}/two-pages',
            '00011000-00012000 r--p 00001000 {dev} {inode} {files}/two-pages',
            '00020000-00022000 r--p 00000000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.3',
        'access mode: shared of a read-only fd has no VM_SHARED/VM_MAYWRITE (mprotect rw- EACCES); private of it may become writable; a write-only fd cannot be mapped',
        steps=(
            ('open {files}/two-pages r', '3'),
            ('open {files}/two-pages rw', '4'),
            ('open {files}/two-pages w', '5'),
            ('mmap 0 0x1000 r-- shared fd=3 0', '0x0'),
            ('vmflags 0', 'rd mr me ms'),
            ('mprotect 0 0x1000 rw-', 'error: EACCES'),
            ('mmap 0x1000 0x1000 rw- shared fd=3 0x1000', 'error: EACCES'),
            ('mmap 0x10000 0x1000 r-- shared fd=4 0', '0x10000'),
            ('vmflags 0x10000', 'rd sh mr mw me ms'),
            ('mprotect 0x10000 0x1000 rw-', '0'),
            ('vmflags 0x10000', 'rd wr sh mr mw me ms'),
            ('mmap 0x20000 0x1000 r-- private fd=3 0', '0x20000'),
            ('vmflags 0x20000', 'rd mr mw me'),
            ('mprotect 0x20000 0x1000 rw-', '0'),
            ('vmflags 0x20000', 'rd wr mr mw me ac'),
            ('mmap 0x30000 0x1000 r-- shared fd=5 0', 'error: EACCES'),
            ('mmap 0x30000 0x1000 --- private fd=5 0', 'error: EACCES'),
            ('vmflags 0x30000', 'error: ENOENT'),
            ('mmap 0x40000 0x1000 r-- shared fd=3 0', '0x40000'),
            ('mmap 0x41000 0x1000 r-- shared fd=4 0x1000', '0x41000'),
        ),
        lines=(
            '00000000-00001000 r--s 00000000 {dev} {inode} {files}/two-pages',
            '00010000-00011000 rw-s 00000000 {dev} {inode} {files}/two-pages',
            '00020000-00021000 rw-p 00000000 {dev} {inode} {files}/two-pages',
            '00040000-00041000 r--s 00000000 {dev} {inode} {files}/two-pages',
            '00041000-00042000 r--s 00001000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.4',
        'mmap by PATH opens read-write only for a shared writable mapping: shared r-- by path can never become writable',
        steps=(
            ('mmap 0 0x1000 rw- shared {files}/two-pages 0', '0x0'),
            ('vmflags 0', 'rd wr sh mr mw me ms'),
            ('mmap 0x1000 0x1000 r-- shared {files}/two-pages 0x1000', '0x1000'),
            ('vmflags 0x1000', 'rd mr me ms'),
            ('mprotect 0x1000 0x1000 rw-', 'error: EACCES'),
            ('mmap 0x10000 0x1000 rw- private {files}/two-pages 0', '0x10000'),
            ('vmflags 0x10000', 'rd wr mr mw me ac'),
            ('mmap 0x20000 0x1000 rw- shared {files}/missing 0', 'error: ENOENT'),
        ),
        lines=(
            '00000000-00001000 rw-s 00000000 {dev} {inode} {files}/two-pages',
            '00001000-00002000 r--s 00001000 {dev} {inode} {files}/two-pages',
            '00010000-00011000 rw-p 00000000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.5',
        'maps shows the resolved path: symlinks to the file or to a directory on the way, and .., are gone',
        steps=(
            ('mmap 0 0x1000 r-- private {files}/link-to-two-pages 0', '0x0'),
            ('mmap 0x1000 0x1000 r-- private {files}/link-to-sub/one-page 0', '0x1000'),
            ('mmap 0x2000 0x1000 r-- private {files}/sub/../two-pages 0x1000', '0x2000'),
        ),
        lines=(
            '00000000-00001000 r--p 00000000 {dev} {inode} {files}/two-pages',
            '00001000-00002000 r--p 00000000 {dev} {inode} {files}/sub/one-page',
            '00002000-00003000 r--p 00001000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.6',
        'on a merged-/usr host /bin is a symlink: /bin/bash shows as /usr/bin/bash',
        steps=(
            ('mmap 0 0x1000 r-- private /bin/bash 0', '0x0'),
        ),
        lines=(
            '00000000-00001000 r--p 00000000 {dev} {inode} /usr/bin/bash',
        ),
    ),
    Fact(
        '10.7',
        '/dev/zero shared and writable-open is shared anonymous memory (pgoff kept); opened read-only it stays /dev/zero',
        steps=(
            ('mmap 0x10000 0x2000 rw- shared /dev/zero 0', '0x10000'),
            ('mmap 0x12000 0x2000 rw- shared /dev/zero 0x2000', '0x12000'),
            ('vmflags 0x10000', 'rd wr sh mr mw me ms'),
            ('mmap 0x14000 0x1000 r-- shared /dev/zero 0x5000', '0x14000'),
            ('vmflags 0x14000', 'rd mr me ms'),
        ),
        lines=(
            '00010000-00012000 rw-s 00000000 00:01 1                                  /dev/zero (deleted)',
            '00012000-00014000 rw-s 00002000 00:01 2                                  /dev/zero (deleted)',
            '00014000-00015000 r--s 00005000 {dev} {inode} /dev/zero',
        ),
    ),
    Fact(
        '10.8',
        '/dev/zero private keeps its file: named /dev/zero, offset = the mmap offset, never merged with anonymous memory; the same fd merges',
        steps=(
            ('open /dev/zero rw', '3'),
            ('mmap 0 0x1000 rw- private fd=3 0', '0x0'),
            ('mmap 0x1000 0x1000 rw- private fd=3 0x1000', '0x1000'),
            ('touch 0 0x1000', '0'),
            ('rss 0', '4'),
            ('vmflags 0', 'rd wr mr mw me ac'),
            ('mmap 0x2000 0x1000 rw- private fd=3 0x2000', '0x2000'),
            ('mmap 0x10000 0x1000 rw- private,anonymous', '0x10000'),
            ('mmap 0x11000 0x1000 rw- private fd=3 0x11000', '0x11000'),
            ('mmap 0x20000 0x1000 rw- private /dev/zero 0x5000', '0x20000'),
            ('mmap 0x21000 0x1000 rw- private /dev/zero 0x6000', '0x21000'),
        ),
        lines=(
            '00000000-00003000 rw-p 00000000 {dev} {inode} /dev/zero',
            '00010000-00011000 rw-p 00000000 00:00 0 ',
            '00011000-00012000 rw-p 00011000 {dev} {inode} /dev/zero',
            '00020000-00021000 rw-p 00005000 {dev} {inode} /dev/zero',
            '00021000-00022000 rw-p 00006000 {dev} {inode} /dev/zero',
        ),
    ),
    Fact(
        '10.9',
        'mmap file errors: unaligned offset EINVAL > EBADF > EOVERFLOW (offset+len past the file type\'s limit) > EACCES / ENODEV (a directory)',
        steps=(
            ('open {files}/sub r', '3'),
            ('open {files}/two-pages r', '4'),
            ('mmap 0x10000 0x1000 r-- private fd=3 0', 'error: ENODEV'),
            ('mmap 0x10000 0x1000 r-- shared fd=3 0', 'error: ENODEV'),
            ('mmap 0x10000 0x1000 r-- private fd=3 0x7ffffffffffff000', 'error: ENODEV'),
            ('mmap 0x10000 0x1000 r-- private fd=3 0xfffffffffffff000', 'error: EOVERFLOW'),
            ('mmap 0x10000 0x1000 r-- private fd=3 0x800', 'error: EINVAL'),
            ('mmap 0x10000 0x1000 r-- private fd=4 0x7ffffffffffff000', 'error: EOVERFLOW'),
            ('mmap 0x10000 0x1000 r-- private fd=4 0xfffffffffffff000', 'error: EOVERFLOW'),
            ('mmap 0x10000 0x1000 rw- shared fd=4 0x7ffffffffffff000', 'error: EOVERFLOW'),
            ('mmap 0x10000 0x1000 rw- shared fd=4 0x800', 'error: EINVAL'),
            ('mmap 0x10000 0 r-- private fd=4 0x7ffffffffffff000', 'error: EINVAL'),
            ('mmap 0x10800 0x1000 r-- private fd=4 0x7ffffffffffff000', 'error: EINVAL'),
            ('mmap 0x10000 0x1000 r-- private fd=9 0x7ffffffffffff000', 'error: EBADF'),
            ('mmap 0x10000 0x1000 r-- private fd=9 0x800', 'error: EINVAL'),
            ('mmap 0x10000 0x1000 r-- private,anonymous fd=4 0x800', 'error: EINVAL'),
            ('mmap 0x10000 0x1000 r-- private,anonymous fd=9 0xfffffffffffff000', '0x10000'),
            ('mmap 0x20000 0x1000 r-- private fd=4 0x7fffffffffffe000', '0x20000'),
        ),
        lines=(
            '00010000-00011000 r--p 00000000 00:00 0 ',
            '00020000-00021000 r--p 7fffffffffffe000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.10',
        'private,shared is MAP_SHARED_VALIDATE: a shared mapping of a file, EINVAL for anonymous memory',
        steps=(
            ('mmap 0 0x1000 rw- private,shared {files}/two-pages 0', '0x0'),
            ('vmflags 0', 'rd wr sh mr mw me ms'),
            ('mmap 0x10000 0x1000 rw- private,shared,anonymous', 'error: EINVAL'),
        ),
        lines=(
            '00000000-00001000 rw-s 00000000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.11',
        'a mapping longer than its file: touching past EOF is SIGBUS (EFAULT); a read fault maps the cached pages around it, never past EOF',
        steps=(
            ('mmap 0 0x4000 r-- shared {files}/two-pages 0', '0x0'),
            ('rss 0', '0'),
            ('touch 0 0x1000', '0'),
            ('rss 0', '8'),
            ('touch 0x2000 0x1000', 'error: EFAULT'),
            ('touch 0 0x4000', 'error: EFAULT'),
            ('rss 0', '8'),
        ),
        lines=(
            '00000000-00004000 r--s 00000000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.12',
        'private writable file mapping: each write fault copies one page; the page holding EOF is whole; a touch stops at the first page past EOF',
        steps=(
            ('mmap 0 0x4000 rw- private {files}/page-and-half 0', '0x0'),
            ('touch 0x1000 0x1000', '0'),
            ('rss 0', '4'),
            ('touch 0 0x3000', 'error: EFAULT'),
            ('rss 0', '8'),
        ),
        lines=(
            '00000000-00004000 rw-p 00000000 {dev} {inode} {files}/page-and-half',
        ),
    ),
    Fact(
        '10.13',
        'MAP_SHARED_VALIDATE refuses flags outside the legacy mask (fixed_noreplace): EOPNOTSUPP, where plain shared maps',
        steps=(
            ('open {files}/two-pages rw', '3'),
            ('mmap 0 0x1000 rw- private,shared,fixed_noreplace fd=3 0', 'error: EOPNOTSUPP'),
            ('mmap 0 0x1000 rw- shared,fixed_noreplace fd=3 0', '0x0'),
            ('mmap 0x10000 0x1000 rw- private,shared,anonymous,fixed_noreplace', 'error: EINVAL'),
        ),
        lines=(
            '00000000-00001000 rw-s 00000000 {dev} {inode} {files}/two-pages',
        ),
    ),
    Fact(
        '10.14',
        'the shmem file of shared /dev/zero or shared anonymous memory is as long as the mmap: past it (a nonzero offset, an mremap grow) is SIGBUS',
        steps=(
            ('mmap 0x20000 0x1000 rw- shared /dev/zero 0x1000', '0x20000'),
            ('touch 0x20000 0x1000', 'error: EFAULT'),
            ('mmap 0x30000 0x2000 rw- shared,anonymous', '0x30000'),
            ('touch 0x30000 0x2000', '0'),
            ('mremap 0x30000 0x2000 0x4000 -', '0x30000'),
            ('touch 0x31000 0x2000', 'error: EFAULT'),
            ('rss 0x30000', '8'),
        ),
        lines=(
            '00020000-00021000 rw-s 00001000 00:01 1                                  /dev/zero (deleted)',
            '00030000-00034000 rw-s 00000000 00:01 2                                  /dev/zero (deleted)',
        ),
    ),
    Fact(
        '10.15',
        'a move of a range spanning several VMAs is EFAULT at a private /dev/zero piece, after the pieces before it moved',
        steps=(
            ('open /dev/zero r', '3'),
            ('mmap 0x0 0x1000 rw- private,anonymous', '0x0'),
            ('mmap 0x1000 0x1000 rw- private fd=3 0x0', '0x1000'),
            ('mremap 0x0 0x2000 0x2000 maymove,fixed 0x4000', 'error: EFAULT'),
            ('mmap 0x10000 0x1000 rw- private fd=3 0x0', '0x10000'),
            ('mmap 0x11000 0x1000 r-- private,anonymous', '0x11000'),
            ('mremap 0x10000 0x2000 0x2000 maymove,fixed 0x20000', 'error: EFAULT'),
        ),
        lines=(
            '00001000-00002000 rw-p 00000000 {dev} {inode} /dev/zero',
            '00004000-00005000 rw-p 00000000 00:00 0 ',
            '00010000-00011000 rw-p 00000000 {dev} {inode} /dev/zero',
            '00011000-00012000 r--p 00000000 00:00 0 ',
        ),
    ),
    Fact(
        '11.1',
        'no hint: private anonymous lengths that are multiples of 2 MiB start 2 MiB-aligned (leaving a hole), others go right below',
        steps=(
            ('mmapnohint 0x200000 rw- private,anonymous', 'aligned2m=1 first'),
            ('mmapnohint 0x201000 rw- private,anonymous', 'aligned2m=0 gap=0x0'),
            ('mmapnohint 0x200000 rw- private,anonymous', 'aligned2m=1 gap=0x1ff000'),
            ('mmapnohint 0x201000 rw- private,anonymous', 'aligned2m=0 gap=0x0'),
            ('mmapnohint 0x400000 rw- private,anonymous', 'aligned2m=1 gap=0x1ff000'),
            ('mmapnohint 0x201000 rw- private,anonymous', 'aligned2m=0 gap=0x0'),
            ('mmapnohint 0x200000 r-- private,anonymous,noreserve', 'aligned2m=1 gap=0x1ff000'),
            ('mmapnohint 0x201000 rw- private,anonymous', 'aligned2m=0 gap=0x0'),
            ('mmapnohint 0x200000 rw- shared,anonymous', 'aligned2m=0 gap=0x0'),
        ),
        lines=(),
    ),
    Fact(
        '11.2',
        'mmap_min_addr 4096: a fixed mmap at 0x8000 or 0x1000 works; a low hint is honoured',
        steps=(
            ('mmaplow 0x8000 0x1000 rw- private,anonymous,fixed', '0x8000'),
            ('mmaplow 0x1000 0x1000 rw- private,anonymous,fixed', '0x1000'),
            ('mmaplow 0x20000 0x1000 rw- private,anonymous', '0x20000'),
        ),
        lines=(),
    ),
)
