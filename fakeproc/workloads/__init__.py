"""Workloads: trio tasks that change a simulated process's address space.

Each workload spawns its own process (``comm`` is the workload's name), sets
it up once, then repeats ``cycle`` until cancelled or for a given count.
"""

from __future__ import annotations

import re

import trio

from ..process import Process, ProcessTable
from .base import Workload
from .mapper import Mapper
from .scenarios import SCENARIOS, Scenario
from .toggler import TOGGLE_PATTERNS, Toggler

WORKLOAD_FORMS = "mapper, toggler:split|resize|remap, scenario:1..10"


def parse_workload(text: str) -> Workload:
    """A fresh workload from ``--workload`` text."""
    match = re.fullmatch(r"(mapper|toggler|scenario)(?::(\w+))?", text.strip())
    if match:
        kind, argument = match.groups()
        if kind == "mapper" and argument is None:
            return Mapper()
        if kind == "toggler" and argument in TOGGLE_PATTERNS:
            return Toggler(argument)
        if kind == "scenario" and argument and argument.isdigit() and int(argument) in SCENARIOS:
            return Scenario(int(argument))
    raise ValueError(f"workload {text!r} is not one of {WORKLOAD_FORMS}")


async def run_workload(
    workload: Workload,
    table: ProcessTable,
    cycles: int | None = None,
    task_status: trio.TaskStatus[Process] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Spawn the workload's process, set it up, report it started, then cycle."""
    process = table.spawn(workload.name)
    await workload.setup(process)
    task_status.started(process)
    count = 0
    while process.alive and (cycles is None or count < cycles):
        await workload.cycle(process)
        count += 1


__all__ = ["WORKLOAD_FORMS", "Workload", "parse_workload", "run_workload"]
