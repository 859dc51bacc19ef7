"""The workload interface: a workload is the calls it makes.

A workload writes its setup and each cycle as generators of call values
(:mod:`fakeproc.calls`) and :class:`Pause` markers; :func:`run_calls`
applies them to the process in order and sends each call's result line back
in, so a later call can use what an earlier one returned.  Tests read the
same generators to see what a workload does without running it.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import trio

from ..calls import Call
from ..process import Process


@dataclass(frozen=True)
class Pause:
    """Let other tasks run (``trio.sleep(seconds)``) before the next call."""

    seconds: float = 0.0


Step = Call[Process] | Pause
#: Yields steps; receives each call's result line (an empty one after a Pause).
Calls = Generator[Step, str, None]


async def run_calls(process: Process, calls: Calls, pace: float = 0.0) -> None:
    """Apply ``calls`` to ``process`` in order; a failing call's SyscallError ends the run.

    Every Pause lasts at least ``pace`` seconds.
    """
    step = next(calls, None)
    while step is not None:
        if isinstance(step, Pause):
            await trio.sleep(max(step.seconds, pace))
            result = ""
        else:
            result = await step.apply(process)
        try:
            step = calls.send(result)
        except StopIteration:
            step = None


class Workload:
    """Set up once, then cycle: each cycle changes the address space and (usually) restores it."""

    name = "workload"
    #: How ``--workload`` and ``spawn workload=`` spell it.
    spec = "workload"
    #: Changes per second; None runs flat out.  Every workload pauses after each change it
    #: makes, so the rate is kept by stretching those pauses.
    rate: float | None = None

    def setup_calls(self) -> Calls:
        """The calls building the starting address space."""
        yield from ()

    def cycle_calls(self) -> Calls:
        """The calls of one cycle."""
        raise NotImplementedError

    async def setup(self, process: Process) -> None:
        await run_calls(process, self.setup_calls())

    async def cycle(self, process: Process) -> None:
        await run_calls(process, self.cycle_calls(), 1 / self.rate if self.rate else 0.0)
