"""The proc-mmap_sem-test mapper: random 4 KiB maps and unmaps in a region (128 MiB unless told)."""

from __future__ import annotations

import random
import time
from array import array

from ..calls import Mmap, Munmap
from ..mm.syscalls import MapFlags
from ..mm.vma import PAGE_SIZE, VmFlags
from ..process import Process
from ..sched import PreemptStats
from .base import Calls, Pause, Workload

#: The benchmark's 128 MiB region, and the most a mapper maps.
REGION_PAGES = (128 << 20) // PAGE_SIZE
#: Most latencies kept; older ones are dropped so a long-running daemon stays bounded.
MAX_SAMPLES = 1 << 22
READ_WRITE = VmFlags.READ | VmFlags.WRITE
ANON = MapFlags.PRIVATE | MapFlags.ANONYMOUS
#: Built once: each cycle maps with it, and combining enum.Flag members costs calls into enum.
FIXED_POPULATE = ANON | MapFlags.FIXED | MapFlags.POPULATE


class Mapper(Workload):
    """Each cycle picks a random page: unmaps it if mapped, else maps it (MAP_FIXED|MAP_POPULATE).

    The region is ``pages`` pages.  Every operation's latency, lock wait
    included, is recorded in nanoseconds of wall-clock time and of the
    simulated machine's virtual clock (the latter does not depend on the
    host's speed or load).  After each operation the mapper sleeps ``pause``
    seconds; with ``None`` it never lets other tasks in (the model measured
    alone).
    """

    name = "mapper"

    def __init__(self, seed: int = 0, pause: float | None = 10e-6, pages: int = REGION_PAGES) -> None:
        if not 0 < pages <= REGION_PAGES:
            raise ValueError(f"a mapper region is 1 to {REGION_PAGES} pages, not {pages}")
        self.rng = random.Random(seed)
        self.pause = pause
        self.pages = pages
        self.spec = "mapper" if pages == REGION_PAGES else f"mapper:{pages}"
        self.base = 0
        self.mapped: set[int] = set()
        self.latencies_ns = array("q")
        self.virtual_latencies_ns = array("q")
        self._clock = PreemptStats()

    async def cycle(self, process: Process) -> None:
        self._clock = process.mm.preempter.stats
        await super().cycle(process)

    def setup_calls(self) -> Calls:
        self.base = int((yield Mmap(0, self.pages * PAGE_SIZE, READ_WRITE, ANON)), 16)
        self.mapped = set(range(self.pages))

    def cycle_calls(self) -> Calls:
        page = self.rng.randrange(self.pages)
        addr = self.base + page * PAGE_SIZE
        began = time.perf_counter_ns()
        virtual_began = self._clock.virtual_ns
        # The generator resumes as soon as the call returns: the span around yield is the call's latency.
        if page in self.mapped:
            yield Munmap(addr, PAGE_SIZE)
            self.mapped.discard(page)
        else:
            yield Mmap(addr, PAGE_SIZE, READ_WRITE, FIXED_POPULATE)
            self.mapped.add(page)
        self.latencies_ns.append(time.perf_counter_ns() - began)
        self.virtual_latencies_ns.append(self._clock.virtual_ns - virtual_began)
        if len(self.latencies_ns) > MAX_SAMPLES:
            del self.latencies_ns[: MAX_SAMPLES // 2]
            del self.virtual_latencies_ns[: MAX_SAMPLES // 2]
        if self.pause is not None:
            yield Pause(self.pause)
