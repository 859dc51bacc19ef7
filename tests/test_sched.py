"""Preemption policies: parsing, determinism, and the reader's race window."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

from fakeproc.sched import (
    WINDOW_MAX_YIELDS,
    AlwaysPolicy,
    NeverPolicy,
    Preempter,
    RandomPolicy,
    SlicePolicy,
    parse_policy,
)


@pytest.mark.parametrize("text, kind, shown", [
    ("slice", SlicePolicy, "slice:50"),
    ("slice:20", SlicePolicy, "slice:20"),
    ("always", AlwaysPolicy, "always"),
    ("never", NeverPolicy, "never"),
    ("random:7", RandomPolicy, "random:7:0.5"),
    ("random:0x10:0.25", RandomPolicy, "random:16:0.25"),
])
def test_parse_policy(text: str, kind: type, shown: str) -> None:
    policy = parse_policy(text)
    assert isinstance(policy, kind) and repr(policy) == shown


@pytest.mark.parametrize("text", ["", "slice:abc", "slice:-1", "slice:1:2", "always:1", "random", "random:x",
                                  "random:1:2.0", "random:1:-0.1", "sometimes"])
def test_bad_policies_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="preemption policy"):
        parse_policy(text)


def test_random_policy_repeats_for_a_seed() -> None:
    def decisions(seed: int) -> list[tuple[bool, int]]:
        policy = RandomPolicy(seed, 0.3)
        return [(policy.should_yield(), policy.window_yields()) for _ in range(200)]

    assert decisions(5) == decisions(5) and decisions(5) != decisions(6)
    assert all(1 <= length <= WINDOW_MAX_YIELDS for _, length in decisions(5))


def test_slice_policy_yields_only_after_its_slice() -> None:
    policy = SlicePolicy(usec=20_000)
    policy.should_yield()  # may or may not: the slice started at construction
    assert not policy.should_yield()
    time.sleep(0.03)
    assert policy.should_yield() and not policy.should_yield()


async def test_point_yields_as_the_policy_says() -> None:
    with trio.testing.assert_checkpoints():
        await Preempter(AlwaysPolicy()).point()
    with trio.testing.assert_no_checkpoints():
        await Preempter(NeverPolicy()).point()


async def test_window_lingers_only_while_a_writer_is_inside() -> None:
    preempter = Preempter(AlwaysPolicy())
    await preempter.window(lambda: False)
    assert preempter.stats.window_yields == 1
    inside = iter([True, True, False])
    await preempter.window(lambda: next(inside))
    assert preempter.stats.window_yields == 1 + 3
    await preempter.window(lambda: True)
    assert preempter.stats.window_yields == 1 + 3 + WINDOW_MAX_YIELDS
