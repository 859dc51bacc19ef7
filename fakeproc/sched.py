"""Preemption points: where a simulated CPU may be taken away.

Code between two awaits is atomic in trio, so interleavings happen only where
the model calls :meth:`Preempter.point` (after each step of a writer's
transaction, through ``MemoryManager.writer_preempt``; between two records of
a maps page) or :meth:`Preempter.window` (between a reader's lockless lookup
and its VMA lock, where on an SMP kernel a writer on another CPU runs).  A
policy decides cheaply whether a point yields; the default yields once a time
slice has passed.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from trio.lowlevel import checkpoint

#: Most checkpoints a window waits for a racing writer to commit.
WINDOW_MAX_YIELDS = 8


class Policy:
    """Decides whether a preemption point yields.  Subclasses are cheap."""

    def should_yield(self) -> bool:
        raise NotImplementedError

    def window_yields(self) -> int:
        """How many checkpoints a yielding window may take at most."""
        return WINDOW_MAX_YIELDS


class SlicePolicy(Policy):
    """Yield once ``usec`` microseconds have passed since the last yield."""

    def __init__(self, usec: float = 50.0) -> None:
        self.slice_ns = int(usec * 1000)
        self._last = time.perf_counter_ns()

    def should_yield(self) -> bool:
        now = time.perf_counter_ns()
        if now - self._last < self.slice_ns:
            return False
        self._last = now
        return True

    def __repr__(self) -> str:
        return f"slice:{self.slice_ns / 1000:g}"


class AlwaysPolicy(Policy):
    def should_yield(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "always"


class NeverPolicy(Policy):
    def should_yield(self) -> bool:
        return False

    def window_yields(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "never"


class RandomPolicy(Policy):
    """Yield with probability ``p``, from a generator seeded with ``seed``.

    With trio's own scheduling made deterministic (see
    :func:`fakeproc.lab.oracle.seed_trio`), the same seed gives the same
    interleaving.
    """

    def __init__(self, seed: int, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability must be within [0, 1], not {p}")
        self.seed = seed
        self.p = p
        self._rng = random.Random(seed)

    def should_yield(self) -> bool:
        return self._rng.random() < self.p

    def window_yields(self) -> int:
        return self._rng.randint(1, WINDOW_MAX_YIELDS)

    def __repr__(self) -> str:
        return f"random:{self.seed}:{self.p:g}"


_POLICY_FORMS = "slice[:USEC], always, never or random:SEED[:P]"


def parse_policy(text: str) -> Policy:
    """Parse ``--preempt``: ``slice[:USEC]``, ``always``, ``never``, ``random:SEED[:P]``."""
    match = re.fullmatch(r"(slice|always|never|random)(?::([^:]+))?(?::([^:]+))?", text.strip())
    if not match:
        raise ValueError(f"preemption policy {text!r} is not one of {_POLICY_FORMS}")
    name, first, second = match.groups()
    try:
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


class Preempter:
    """Shared by every address space of a daemon: one simulated machine."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy if policy is not None else SlicePolicy()
        self.stats = PreemptStats()

    def __repr__(self) -> str:
        return f"<Preempter {self.policy!r} yields={self.stats.yields}/{self.stats.points}>"

    async def point(self) -> None:
        """A preemption point: yield to other tasks if the policy says so."""
        stats = self.stats
        stats.points += 1
        if self.policy.should_yield():
            stats.yields += 1
            await checkpoint()

    async def window(self, writer_inside: Callable[[], bool]) -> None:
        """The reader's race window: when it yields, let a writer finish a transaction.

        After each checkpoint, stay only while ``writer_inside()`` (a writer
        holds ``mmap_lock``), and for at most ``policy.window_yields()``
        checkpoints; with no writer about, the window costs one checkpoint.
        """
        stats = self.stats
        stats.points += 1
        if not self.policy.should_yield():
            return
        stats.windows += 1
        for _ in range(self.policy.window_yields()):
            stats.window_yields += 1
            await checkpoint()
            if not writer_inside():
                return
