"""Workloads: trio tasks that change a simulated process's address space.

Each workload gets a process of its own (``comm`` is the workload's name by
default), sets it up once, then repeats ``cycle`` until the process is killed
or the daemon stops.
"""

from __future__ import annotations

import logging
import re

import trio

from ..errors import SyscallError
from ..mm.walk import LockMode
from ..process import Process, ProcessTable
from .base import Workload
from .mapper import Mapper
from .scenarios import SCENARIOS, Scenario
from .toggler import TOGGLE_PATTERNS, Toggler

WORKLOAD_FORMS = "mapper[:PAGES], toggler:split|resize|remap, scenario:1..10"

log = logging.getLogger("fakeproc.workloads")


def parse_workload(text: str) -> Workload:
    """A fresh workload, running flat out, from its spec (``--workload`` or ``spawn workload=``)."""
    match = re.fullmatch(r"(mapper|toggler|scenario)(?::(\w+))?", text.strip())
    if match:
        kind, argument = match.groups()
        if kind == "mapper" and argument is None:
            return Mapper()
        if kind == "mapper" and argument.isdigit():
            return Mapper(pages=int(argument))
        if kind == "toggler" and argument in TOGGLE_PATTERNS:
            return Toggler(argument)
        if kind == "scenario" and argument and argument.isdigit() and int(argument) in SCENARIOS:
            return Scenario(int(argument))
    raise ValueError(f"workload {text!r} is not one of {WORKLOAD_FORMS}")


def paced(workload: Workload, rate: float) -> Workload:
    """``workload`` slowed to ``rate`` changes per second."""
    workload.rate = rate
    return workload


def demo_workloads() -> list[Workload]:
    """What keeps the demo population moving at almost no CPU: a small mapper and a split toggler.

    The mapper's 64 pages keep its maps within one page while every change
    shows; the toggler flips the VMA at the end of its first maps page.
    """
    return [paced(Mapper(pages=64), 4.0), paced(Toggler("split"), 2.0)]


class WorkloadRunner:
    """The daemon's workloads, each cycling in a task of ``nursery`` until its process is killed.

    Mount-time workloads and ``spawn workload=`` both come through here (the
    runner installs itself as the table's ``start_workload``).  A workload
    whose call fails is logged and ends alone; the daemon keeps serving.
    """

    def __init__(self, table: ProcessTable, nursery: trio.Nursery) -> None:
        self.table = table
        self.nursery = nursery
        #: The workloads still cycling, in start order (the stats file reports them).
        self.running: list[Workload] = []
        table.start_workload = self.start_spec

    async def start(self, workload: Workload, comm: str | None = None, lock: LockMode | None = None) -> Process:
        """Spawn ``workload``'s process, set it up, and leave it cycling.  Setup's SyscallError kills it."""
        process = self.table.spawn(comm or workload.name, lock)
        process.workload, process.workload_rate = workload.spec, workload.rate
        try:
            await workload.setup(process)
        except SyscallError:
            self.table.kill(process.pid)
            raise
        self.running.append(workload)
        self.nursery.start_soon(self._cycle, workload, process, name=f"workload {workload.spec} {process.pid}")
        return process

    async def start_spec(self, spec: str, rate: float | None, comm: str | None, lock: LockMode | None) -> Process:
        """:meth:`start` from the words of ``spawn workload=SPEC rate=RATE``; ValueError for a bad SPEC."""
        workload = parse_workload(spec)
        return await self.start(workload if rate is None else paced(workload, rate), comm, lock)

    async def _cycle(self, workload: Workload, process: Process) -> None:
        async with trio.open_nursery() as both:

            async def stop_when_killed() -> None:
                # A kill must not wait out a slow workload's pause.
                await process.exited.wait()
                both.cancel_scope.cancel()

            both.start_soon(stop_when_killed)
            try:
                while process.alive:
                    await workload.cycle(process)
            except SyscallError as error:
                log.warning("pid %d: workload %s stopped: %s", process.pid, workload.spec, error.result_line())
            both.cancel_scope.cancel()
        # Forgotten once it ends (not when the daemon cancels it), so that a long-running daemon
        # does not keep every workload it ever ran, and the stats file still sees those it stopped.
        self.running.remove(workload)


__all__ = ["WORKLOAD_FORMS", "Workload", "WorkloadRunner", "demo_workloads", "paced", "parse_workload"]
