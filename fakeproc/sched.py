"""Preemption points: where a simulated CPU may be taken away.

Code between two awaits is atomic in trio, so interleavings happen only where
the model calls :meth:`Preempter.point` (after each step of a writer's
transaction, through ``MemoryManager.writer_preempt``; between two records of
a maps page) or :meth:`Preempter.window` (between a reader's lockless lookup
and its VMA lock, where on an SMP kernel a writer on another CPU runs).  A
policy decides cheaply whether a point yields.  The default counts virtual
time: each point charges the simulated nanoseconds its work would take in the
kernel, and a slice is so many simulated microseconds, so how often tasks
interleave depends on the work they do, not on how fast Python runs or how
busy the machine is.  ``slice:USEC`` keeps a wall-clock slice as an option.

A policy that can tell in advance how many of the next points will not yield
(:meth:`Policy.quiet_points`) lets a caller pass them without awaiting
(:meth:`Preempter.passed`), with the same counters and the same random
draws as passing them one by one: the readers' fast path relies on it.
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from trio.lowlevel import checkpoint

#: Most checkpoints a window waits for a racing writer to commit.
WINDOW_MAX_YIELDS = 8

#: Simulated nanoseconds a reader's preemption point charges: a record, or a race window.
#: The kernel renders a maps line in about 300 ns, and a record passes two points in ``vma`` mode.
READER_POINT_NS = 150
#: Simulated nanoseconds a writer's step charges (a split, a store, a detach, taking ``mmap_lock``).
WRITER_STEP_NS = 2000
#: The default virtual slice, in simulated microseconds.
DEFAULT_VIRTUAL_SLICE_USEC = 8


class Policy:
    """Decides whether a preemption point yields.  Subclasses are cheap."""

    #: Whether a reader's race window at a page boundary opens whatever the slice says.
    opens_boundary_windows = False

    def should_yield(self, cost_ns: int = READER_POINT_NS) -> bool:
        """Whether a point that charges ``cost_ns`` simulated nanoseconds yields."""
        raise NotImplementedError

    def window_yields(self) -> int:
        """How many checkpoints a yielding window may take at most."""
        return WINDOW_MAX_YIELDS

    def quiet_points(self, limit: int) -> int:
        """How many of the next reader points, up to ``limit``, are sure not to yield.  O(1) amortized.

        0 when the policy cannot know in advance (a wall-clock slice).
        """
        return 0

    def skip(self, count: int) -> None:
        """Pass ``count`` reader points that :meth:`quiet_points` promised will not yield."""


class VirtualSlicePolicy(Policy):
    """Virtual time: yield once a slice of ``usec`` simulated microseconds is used up.

    Each point charges what its work would cost in the kernel
    (``READER_POINT_NS`` for a reader's record or race window,
    ``WRITER_STEP_NS`` for a writer's step), so the same work gives the same
    interleaving at any speed and any machine load.  A reader's race window
    at a page boundary always opens: that is where the kernel's maps
    readers drop and retake their locks and where the races are, and a few
    checkpoints a page cost little.
    """

    opens_boundary_windows = True

    def __init__(self, usec: float = DEFAULT_VIRTUAL_SLICE_USEC) -> None:
        self.slice_ns = int(usec * 1000)
        if self.slice_ns < 1:
            raise ValueError(f"a virtual slice is at least 1 ns, not {usec} us")
        self._left_ns = self.slice_ns

    def should_yield(self, cost_ns: int = READER_POINT_NS) -> bool:
        self._left_ns -= cost_ns
        if self._left_ns > 0:
            return False
        self._left_ns = self.slice_ns
        return True

    def quiet_points(self, limit: int) -> int:
        return min(limit, (self._left_ns - 1) // READER_POINT_NS)

    def skip(self, count: int) -> None:
        self._left_ns -= count * READER_POINT_NS

    def __repr__(self) -> str:
        return f"virtual:{self.slice_ns / 1000:g}"


class SlicePolicy(Policy):
    """Yield once ``usec`` microseconds have passed since the last yield."""

    def __init__(self, usec: float = 50.0) -> None:
        self.slice_ns = int(usec * 1000)
        self._last = time.perf_counter_ns()

    def should_yield(self, cost_ns: int = READER_POINT_NS) -> bool:
        now = time.perf_counter_ns()
        if now - self._last < self.slice_ns:
            return False
        self._last = now
        return True

    def __repr__(self) -> str:
        return f"slice:{self.slice_ns / 1000:g}"


class AlwaysPolicy(Policy):
    def should_yield(self, cost_ns: int = READER_POINT_NS) -> bool:
        return True

    def __repr__(self) -> str:
        return "always"


class NeverPolicy(Policy):
    def should_yield(self, cost_ns: int = READER_POINT_NS) -> bool:
        return False

    def window_yields(self) -> int:
        return 0

    def quiet_points(self, limit: int) -> int:
        return limit

    def __repr__(self) -> str:
        return "never"


class RandomPolicy(Policy):
    """Yield with probability ``p``, from a generator seeded with ``seed``.

    With trio's own scheduling made deterministic (see
    :func:`fakeproc.lab.oracle.seed_trio`), the same seed gives the same
    interleaving.  Decisions looked at in advance by :meth:`quiet_points` are
    kept in order and drawn no further than the first yield, so the
    generator is drawn in the same order as without looking ahead.
    """

    def __init__(self, seed: int, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability must be within [0, 1], not {p}")
        self.seed = seed
        self.p = p
        self._rng = random.Random(seed)
        self._ahead: deque[bool] = deque()

    def should_yield(self, cost_ns: int = READER_POINT_NS) -> bool:
        if self._ahead:
            return self._ahead.popleft()
        return self._rng.random() < self.p

    def window_yields(self) -> int:
        return self._rng.randint(1, WINDOW_MAX_YIELDS)

    def quiet_points(self, limit: int) -> int:
        ahead = self._ahead
        while len(ahead) < limit and not (ahead and ahead[-1]):
            ahead.append(self._rng.random() < self.p)
        quiet = 0
        for decision in ahead:
            if decision or quiet == limit:
                break
            quiet += 1
        return quiet

    def skip(self, count: int) -> None:
        for _ in range(count):
            self._ahead.popleft()

    def __repr__(self) -> str:
        return f"random:{self.seed}:{self.p:g}"


_POLICY_FORMS = "virtual[:USEC], slice[:USEC], always, never or random:SEED[:P]"


def parse_policy(text: str) -> Policy:
    """Parse ``--preempt``: ``virtual[:USEC]``, ``slice[:USEC]``, ``always``, ``never``, ``random:SEED[:P]``."""
    match = re.fullmatch(r"(virtual|slice|always|never|random)(?::([^:]+))?(?::([^:]+))?", text.strip())
    if not match:
        raise ValueError(f"preemption policy {text!r} is not one of {_POLICY_FORMS}")
    name, first, second = match.groups()
    try:
        if name == "virtual" and second is None:
            return VirtualSlicePolicy(float(first) if first else DEFAULT_VIRTUAL_SLICE_USEC)
        if name == "slice" and second is None:
            usec = float(first) if first else 50.0
            if usec < 0:
                raise ValueError
            return SlicePolicy(usec)
        if name == "always" and first is None:
            return AlwaysPolicy()
        if name == "never" and first is None:
            return NeverPolicy()
        if name == "random" and first is not None:
            return RandomPolicy(int(first, 0), float(second) if second else 0.5)
    except ValueError:
        pass
    raise ValueError(f"preemption policy {text!r} is not one of {_POLICY_FORMS}")


@dataclass
class PreemptStats:
    points: int = 0
    yields: int = 0
    windows: int = 0
    window_yields: int = 0
    #: The virtual clock: simulated nanoseconds charged by every point so far, under any policy.
    virtual_ns: int = 0


class Preempter:
    """Shared by every address space of a daemon: one simulated machine."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy if policy is not None else VirtualSlicePolicy()
        self.stats = PreemptStats()

    def __repr__(self) -> str:
        return f"<Preempter {self.policy!r} yields={self.stats.yields}/{self.stats.points}>"

    async def point(self, cost_ns: int = READER_POINT_NS) -> None:
        """A preemption point charging ``cost_ns`` of virtual time: yield to other tasks if the policy says so."""
        stats = self.stats
        stats.points += 1
        stats.virtual_ns += cost_ns
        if self.policy.should_yield(cost_ns):
            stats.yields += 1
            await checkpoint()

    def passed(self, count: int) -> None:
        """Count ``count`` reader points that ``policy.quiet_points`` promised, as awaited points that do not yield would."""
        self.policy.skip(count)
        self.stats.points += count
        self.stats.virtual_ns += count * READER_POINT_NS

    async def window(self, writer_inside: Callable[[], bool], at_boundary: bool = False) -> None:
        """The reader's race window: when it yields, let a writer finish a transaction.

        After each checkpoint, stay only while ``writer_inside()`` (a writer
        holds ``mmap_lock``), and for at most ``policy.window_yields()``
        checkpoints; with no writer about, the window costs one checkpoint.
        A window ``at_boundary`` (near the end of a page) opens whatever
        the slice says under a policy that ``opens_boundary_windows``.
        """
        stats = self.stats
        stats.points += 1
        stats.virtual_ns += READER_POINT_NS
        policy = self.policy
        if not policy.should_yield() and not (at_boundary and policy.opens_boundary_windows):
            return
        stats.windows += 1
        for _ in range(self.policy.window_yields()):
            stats.window_yields += 1
            await checkpoint()
            if not writer_inside():
                return
