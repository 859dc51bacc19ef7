"""The proc-maps-race patterns: modify and restore the VMA that ends a maps page.

Setup copies the selftest: 129 three-page anonymous mappings with alternating
protections, made with ``mmap(NULL)`` so that top-down placement packs them
together.  The target is the VMA whose line is the last of the first 4096-byte
page of maps.
"""

from __future__ import annotations

from ..calls import Mmap, Mremap
from ..mm.syscalls import MapFlags, MremapFlags
from ..mm.vma import PAGE_SIZE, VmFlags
from ..process import Process
from ..procfs.maps import page_boundary_vma_start
from .base import Calls, Pause, Workload

MAPPINGS = 129
PAGES = 3
READ_ONLY = VmFlags.READ
READ_WRITE = VmFlags.READ | VmFlags.WRITE
#: A protection no neighbour has, so the modified page never merges.
PATCH_PROT = VmFlags.READ | VmFlags.EXEC
ANON = MapFlags.PRIVATE | MapFlags.ANONYMOUS
FIXED = ANON | MapFlags.FIXED

TOGGLE_PATTERNS = ("split", "resize", "remap")


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
        self.spec = f"toggler:{pattern}"
        self.target = 0
        self.prot = READ_ONLY
        self.cycles = 0

    def setup_calls(self) -> Calls:
        for index in range(MAPPINGS):
            yield Mmap(0, PAGES * PAGE_SIZE, READ_WRITE if index % 2 else READ_ONLY, ANON)

    async def setup(self, process: Process) -> None:
        await super().setup(process)
        self.target = await page_boundary_vma_start(process)
        vma = process.mm.tree.lookup(self.target)
        assert vma is not None
        self.prot = vma.flags & (VmFlags.READ | VmFlags.WRITE | VmFlags.EXEC)

    def cycle_calls(self) -> Calls:
        target = self.target
        if self.pattern == "split":
            yield Mmap(target, PAGE_SIZE, PATCH_PROT, FIXED)
            yield Pause()
            yield Mmap(target, PAGE_SIZE, self.prot, FIXED)
        elif self.pattern == "resize":
            yield Mremap(target, PAGES * PAGE_SIZE, PAGE_SIZE)
            yield Pause()
            yield Mremap(target, PAGE_SIZE, PAGES * PAGE_SIZE)
        else:
            patch = int((yield Mmap(0, PAGE_SIZE, PATCH_PROT, ANON)), 16)
            yield Mremap(patch, PAGE_SIZE, PAGE_SIZE, MremapFlags.MAYMOVE | MremapFlags.FIXED, target)
            yield Pause()
            yield Mmap(target, PAGE_SIZE, self.prot, FIXED)
        self.cycles += 1
        yield Pause()
