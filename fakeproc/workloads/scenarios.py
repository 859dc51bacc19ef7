"""Lorenzo Stoakes' ten merge and split cases, each as a modify/restore loop.

Every scenario lays out up to three adjacent anonymous VMAs, P (lower) and N
(upper), never faulted in so that only their flags decide whether they merge.
``RW`` pieces merge with each other; ``RO`` pieces keep them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..calls import Call, Mmap, Mprotect, Munmap
from ..mm.syscalls import MapFlags
from ..mm.vma import PAGE_SIZE, VmFlags
from ..process import Process
from .base import Calls, Pause, Workload

RO = VmFlags.READ
RW = VmFlags.READ | VmFlags.WRITE
ANON = MapFlags.PRIVATE | MapFlags.ANONYMOUS
FIXED = ANON | MapFlags.FIXED
P = PAGE_SIZE

#: The call a step makes, given the region's base address.
Step = Callable[[int], Call[Process]]


def _map(offset: int, pages: int, prot: VmFlags) -> Step:
    return lambda base: Mmap(base + offset, pages * P, prot, FIXED)


def _unmap(offset: int, pages: int) -> Step:
    return lambda base: Munmap(base + offset, pages * P)


def _protect(offset: int, pages: int, prot: VmFlags) -> Step:
    return lambda base: Mprotect(base + offset, pages * P, prot)


@dataclass(frozen=True)
class Case:
    title: str
    layout: tuple[tuple[int, int, VmFlags], ...]  # (offset, pages, prot) mapped at setup
    modify: Step
    restore: Step


SCENARIOS: dict[int, Case] = {
    1: Case("merge both, replacing the VMA between P and N",
            ((0, 2, RW), (2 * P, 1, RO), (3 * P, 2, RW)), _map(2 * P, 1, RW), _map(2 * P, 1, RO)),
    2: Case("merge left full: map at P's end over all of N",
            ((0, 2, RW), (2 * P, 2, RO)), _map(2 * P, 2, RW), _map(2 * P, 2, RO)),
    3: Case("merge left partial: map at P's end over part of N",
            ((0, 2, RW), (2 * P, 2, RO)), _map(2 * P, 1, RW), _map(2 * P, 1, RO)),
    4: Case("merge right full: map before N's start over all of P",
            ((0, 2, RO), (2 * P, 2, RW)), _map(0, 2, RW), _map(0, 2, RO)),
    5: Case("merge right partial: map before N's start over part of P",
            ((0, 2, RO), (2 * P, 2, RW)), _map(P, 1, RW), _map(P, 1, RO)),
    6: Case("merge both into the gap between P and N",
            ((0, 2, RW), (3 * P, 2, RW)), _map(2 * P, 1, RW), _unmap(2 * P, 1)),
    7: Case("merge left: map at the end of P",
            ((0, 2, RW), (4 * P, 1, RO)), _map(2 * P, 1, RW), _unmap(2 * P, 1)),
    8: Case("merge right: map before the start of N",
            ((0, 1, RO), (2 * P, 2, RW)), _map(P, 1, RW), _unmap(P, 1)),
    9: Case("split, new VMA at the lower address",
            ((0, 3, RW),), _protect(0, 1, RO), _protect(0, 1, RW)),
    10: Case("split, new VMA at the higher address",
             ((0, 3, RW),), _protect(2 * P, 1, RO), _protect(2 * P, 1, RW)),
}

#: Pages the scenario's region spans, with a guard page of a lone protection below and above.
REGION_PAGES = 8


class Scenario(Workload):
    """One of :data:`SCENARIOS`, between two guard VMAs so nothing else merges in."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.case = SCENARIOS[number]
        self.name = f"scenario-{number}"
        self.spec = f"scenario:{number}"
        self.base = 0

    def setup_calls(self) -> Calls:
        region = int((yield Mmap(0, (REGION_PAGES + 2) * P, VmFlags.EXEC, ANON)), 16)
        self.base = region + P
        yield Munmap(self.base, REGION_PAGES * P)
        for offset, pages, prot in self.case.layout:
            yield Mmap(self.base + offset, pages * P, prot, FIXED)

    def cycle_calls(self) -> Calls:
        yield self.case.modify(self.base)
        yield Pause()
        yield self.case.restore(self.base)
        yield Pause()
