"""The workload interface."""

from __future__ import annotations

from ..process import Process


class Workload:
    """Set up once, then cycle: each cycle changes the address space and (usually) restores it."""

    name = "workload"

    async def setup(self, process: Process) -> None:
        """Build the starting address space."""

    async def cycle(self, process: Process) -> None:
        raise NotImplementedError
