"""Preemption policies: parsing, determinism, and the reader's race window."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

from fakeproc.sched import (
    READER_POINT_NS,
    WINDOW_MAX_YIELDS,
    WRITER_STEP_NS,
    AlwaysPolicy,
    NeverPolicy,
    Policy,
    Preempter,
    RandomPolicy,
    SlicePolicy,
    VirtualSlicePolicy,
    parse_policy,
)


@pytest.mark.parametrize("text, kind, shown", [
    ("virtual", VirtualSlicePolicy, "virtual:8"),
    ("virtual:2.5", VirtualSlicePolicy, "virtual:2.5"),
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


@pytest.mark.parametrize("text", ["", "virtual:0", "virtual:x", "virtual:1:2", "slice:abc", "slice:-1", "slice:1:2", "always:1", "random", "random:x",
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


def test_the_default_policy_is_virtual_time() -> None:
    assert isinstance(Preempter().policy, VirtualSlicePolicy)


def test_virtual_slice_charges_simulated_time_not_wall_clock() -> None:
    policy = VirtualSlicePolicy(usec=1)
    reader_points_per_slice = -(-1000 // READER_POINT_NS)
    for _ in range(3):
        decisions = [policy.should_yield() for _ in range(reader_points_per_slice)]
        assert decisions == [False] * (reader_points_per_slice - 1) + [True]
    time.sleep(0.01)
    assert not policy.should_yield(), "a wall-clock pause must not count"
    assert WRITER_STEP_NS >= 1000 and policy.should_yield(WRITER_STEP_NS)


@pytest.mark.parametrize("make", [lambda: VirtualSlicePolicy(3), lambda: RandomPolicy(11, 0.2), lambda: RandomPolicy(4, 0.9),
                                  NeverPolicy, AlwaysPolicy, lambda: SlicePolicy(10**9)],
                         ids=["virtual", "random-0.2", "random-0.9", "never", "always", "slice"])
def test_looking_ahead_changes_no_decision(make) -> None:  # type: ignore[no-untyped-def]
    """Passing quiet points in bulk, then asking point by point, decides as asking point by point all along."""
    plain: Policy = make()
    ahead: Policy = make()
    expected = []
    for turn in range(300):
        expected.append(plain.should_yield(WRITER_STEP_NS if turn % 7 == 0 else READER_POINT_NS))
        if turn % 7 == 0:
            expected.append(plain.window_yields() if expected[-1] else 0)
    got = []
    turn = 0
    while turn < 300:
        # Reader points only, never past the next writer's step.
        quiet = 0 if turn % 7 == 0 else ahead.quiet_points(min(5, 7 - turn % 7, 300 - turn))
        if quiet:
            ahead.skip(quiet)
            got += [False] * quiet
            turn += quiet
            continue
        got.append(ahead.should_yield(WRITER_STEP_NS if turn % 7 == 0 else READER_POINT_NS))
        if turn % 7 == 0:
            got.append(ahead.window_yields() if got[-1] else 0)
        turn += 1
    assert got == expected


async def test_boundary_windows_open_in_virtual_time_only() -> None:
    virtual = Preempter(VirtualSlicePolicy(1000))
    await virtual.window(lambda: False)
    assert virtual.stats.windows == 0
    await virtual.window(lambda: False, at_boundary=True)
    assert virtual.stats.windows == 1 and virtual.stats.points == 2
    never = Preempter(NeverPolicy())
    with trio.testing.assert_no_checkpoints():
        await never.window(lambda: False, at_boundary=True)
    assert never.stats.windows == 0
