"""The proc-maps-race patterns: modify and restore the VMA that ends a maps page.

Setup copies the selftest: 129 three-page anonymous mappings with alternating
protections, made with ``mmap(NULL)`` so that top-down placement packs them
together.  The target is the VMA whose line is the last of the first 4096-byte
page of maps.
"""

from __future__ import annotations

import trio

from ..mm import syscalls
from ..mm.syscalls import MapFlags, MremapFlags
from ..mm.vma import PAGE_SIZE, VmFlags
from ..process import Process
from ..procfs.maps import MapsIterator
from ..seqfile import SeqFile
from .base import Workload

MAPPINGS = 129
PAGES = 3
READ_ONLY = VmFlags.READ
READ_WRITE = VmFlags.READ | VmFlags.WRITE
#: A protection no neighbour has, so the modified page never merges.
PATCH_PROT = VmFlags.READ | VmFlags.EXEC
ANON = MapFlags.PRIVATE | MapFlags.ANONYMOUS
FIXED = ANON | MapFlags.FIXED

TOGGLE_PATTERNS = ("split", "resize", "remap")


async def page_boundary_vma_start(process: Process) -> int:
    """Start of the VMA whose line ends the first page a maps reader gets.

    Asked of the real reader, so the page rule lives only in seq_file.
    """
    first_page = await SeqFile(MapsIterator(process)).read(0, PAGE_SIZE)
    lines = first_page.decode().splitlines()
    if not lines or lines[-1].endswith("[vsyscall]"):
        raise ValueError("maps fits in one page: no VMA sits at a page boundary")
    return int(lines[-1].split("-", 1)[0], 16)


class Toggler(Workload):
    """``split``: map a page over the target's first page, then map it back (split and merge).
    ``resize``: mremap the target to one page, then back to three (shrink and expand).
    ``remap``: mremap a patch page over the target's first page, then map it back.
    """

    def __init__(self, pattern: str) -> None:
        if pattern not in TOGGLE_PATTERNS:
            raise ValueError(f"toggle pattern {pattern!r} is not one of {', '.join(TOGGLE_PATTERNS)}")
        self.pattern = pattern
        self.name = f"toggler-{pattern}"
        self.target = 0
        self.prot = READ_ONLY
        self.cycles = 0

    async def setup(self, process: Process) -> None:
        mm = process.mm
        for index in range(MAPPINGS):
            await syscalls.mmap(mm, 0, PAGES * PAGE_SIZE, READ_WRITE if index % 2 else READ_ONLY, ANON)
        self.target = await page_boundary_vma_start(process)
        vma = mm.tree.lookup(self.target)
        assert vma is not None
        self.prot = vma.flags & (VmFlags.READ | VmFlags.WRITE | VmFlags.EXEC)

    async def cycle(self, process: Process) -> None:
        mm, target = process.mm, self.target
        if self.pattern == "split":
            await syscalls.mmap(mm, target, PAGE_SIZE, PATCH_PROT, FIXED)
            await trio.sleep(0)
            await syscalls.mmap(mm, target, PAGE_SIZE, self.prot, FIXED)
        elif self.pattern == "resize":
            await syscalls.mremap(mm, target, PAGES * PAGE_SIZE, PAGE_SIZE)
            await trio.sleep(0)
            await syscalls.mremap(mm, target, PAGE_SIZE, PAGES * PAGE_SIZE)
        else:
            patch = await syscalls.mmap(mm, 0, PAGE_SIZE, PATCH_PROT, ANON)
            await syscalls.mremap(mm, patch, PAGE_SIZE, PAGE_SIZE, MremapFlags.MAYMOVE | MremapFlags.FIXED, target)
            await trio.sleep(0)
            await syscalls.mmap(mm, target, PAGE_SIZE, self.prot, FIXED)
        self.cycles += 1
        await trio.sleep(0)
