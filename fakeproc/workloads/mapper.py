"""The proc-mmap_sem-test mapper: random 4 KiB maps and unmaps in a 128 MiB region."""

from __future__ import annotations

import random
import time
from array import array

import trio

from ..mm import syscalls
from ..mm.syscalls import MapFlags
from ..mm.vma import PAGE_SIZE, VmFlags
from ..process import Process
from .base import Workload

REGION_SIZE = 128 << 20
#: Most latencies kept; older ones are dropped so a long-running daemon stays bounded.
MAX_SAMPLES = 1 << 22


class Mapper(Workload):
    """Each cycle picks a random page: unmaps it if mapped, else maps it (MAP_FIXED|MAP_POPULATE).

    Every operation's latency, lock wait included, is recorded in nanoseconds.
    """

    name = "mapper"

    def __init__(self, seed: int = 0, pause: float = 10e-6) -> None:
        self.rng = random.Random(seed)
        self.pause = pause
        self.base = 0
        self.mapped: set[int] = set()
        self.latencies_ns = array("q")

    async def setup(self, process: Process) -> None:
        flags = MapFlags.PRIVATE | MapFlags.ANONYMOUS
        self.base = await syscalls.mmap(process.mm, 0, REGION_SIZE, VmFlags.READ | VmFlags.WRITE, flags)
        self.mapped = set(range(REGION_SIZE // PAGE_SIZE))

    async def cycle(self, process: Process) -> None:
        page = self.rng.randrange(REGION_SIZE // PAGE_SIZE)
        addr = self.base + page * PAGE_SIZE
        began = time.perf_counter_ns()
        if page in self.mapped:
            await syscalls.munmap(process.mm, addr, PAGE_SIZE)
            self.mapped.discard(page)
        else:
            flags = MapFlags.PRIVATE | MapFlags.ANONYMOUS | MapFlags.FIXED | MapFlags.POPULATE
            await syscalls.mmap(process.mm, addr, PAGE_SIZE, VmFlags.READ | VmFlags.WRITE, flags)
            self.mapped.add(page)
        self.latencies_ns.append(time.perf_counter_ns() - began)
        if len(self.latencies_ns) > MAX_SAMPLES:
            del self.latencies_ns[: MAX_SAMPLES // 2]
        await trio.sleep(self.pause)
