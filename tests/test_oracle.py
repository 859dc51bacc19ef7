"""The tearing oracle over seeded interleavings: correct modes never tear, broken ones are caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fakeproc.mm.walk import LockMode
from fakeproc.lab.oracle import History, PageRecorder, PageWindow, check_read, read_whole, run_race
from fakeproc.mm.vma import Vma
from fakeproc.population import many_layout
from fakeproc.process import Process, ProcessTable
from fakeproc.procfs.maps import MapsIterator
from fakeproc.sched import Policy, RandomPolicy, VirtualSlicePolicy
from fakeproc.workloads import parse_workload
from fakeproc.workloads.mapper import Mapper
from fakeproc.workloads.scenarios import SCENARIOS

pytestmark = pytest.mark.slow

SEEDS = range(50)
SCENARIO_SPECS = [f"scenario:{number}" for number in SCENARIOS]
TOGGLER_SPECS = ["toggler:split", "toggler:resize", "toggler:remap"]


@pytest.mark.parametrize("mode", [LockMode.MMAP, LockMode.VMA], ids=lambda mode: mode.value)
@pytest.mark.parametrize("spec", SCENARIO_SPECS + TOGGLER_SPECS)
def test_correct_modes_never_tear(spec: str, mode: LockMode) -> None:
    reads = 2 if spec.startswith("toggler") else 4
    for seed in SEEDS:
        result = run_race(parse_workload(spec), mode, seed, reads=reads)
        assert not result.violations, f"{spec} {mode.value}: {result}"


def test_vma_mode_interleaves_inside_pages() -> None:
    total = sum(run_race(parse_workload("toggler:split"), LockMode.VMA, seed, reads=2).pages_with_writer_inside for seed in range(5))
    assert total > 0


def _first_failing_seed(spec: str, mode: LockMode, limit: int = 40) -> int:
    for seed in range(limit):
        if run_race(parse_workload(spec), mode, seed, reads=3).violations:
            return seed
    pytest.fail(f"{mode.value} survived {limit} seeds of {spec}: the simulation does not interleave enough")


@pytest.mark.parametrize("mode", [LockMode.VMA_NOGAPCHECK, LockMode.NOLOCK], ids=lambda mode: mode.value)
def test_broken_modes_are_caught_and_replay(mode: LockMode) -> None:
    seed = _first_failing_seed("toggler:split", mode)
    first = run_race(parse_workload("toggler:split"), mode, seed, reads=3)
    again = run_race(parse_workload("toggler:split"), mode, seed, reads=3)
    assert [str(v) for v in first.violations] == [str(v) for v in again.violations], f"seed {seed} did not replay"
    rules = {violation.rule for violation in first.violations}
    assert rules & {"false-gap", "torn", "order"}, f"seed {seed}: {first}"


def test_nogapcheck_shows_a_false_gap() -> None:
    for seed in range(40):
        result = run_race(parse_workload("toggler:split"), LockMode.VMA_NOGAPCHECK, seed, reads=3)
        if any(violation.rule == "false-gap" for violation in result.violations):
            return
    pytest.fail("vma-nogapcheck never showed a false gap in 40 seeds")


async def test_oracle_flags_a_doctored_read() -> None:
    """The oracle itself can fail: a dropped line is a false gap, a made-up line is torn."""
    table = ProcessTable()
    process = table.spawn("static")
    many_layout(process, 200)
    history = History(process.mm)
    pages, windows = await read_whole(process)
    assert check_read(history, pages, windows) == []
    lines = pages[0].split(b"\n")
    dropped = [b"\n".join(lines[:3] + lines[4:])] + pages[1:]
    assert {v.rule for v in check_read(history, dropped, windows)} == {"false-gap"}
    forged = [pages[0].replace(b"r--p", b"r-xp", 1)] + pages[1:]
    assert "torn" in {v.rule for v in check_read(history, forged, windows)}
    swapped = [pages[1], pages[0]] + pages[2:]
    assert "order" in {v.rule for v in check_read(history, swapped, [PageWindow(0), PageWindow(0)] + windows[2:])}


@pytest.mark.parametrize("mode", [LockMode.VMA_NOGAPCHECK, LockMode.NOLOCK], ids=lambda mode: mode.value)
@pytest.mark.parametrize("spec", ["toggler:split", "toggler:remap"])
def test_broken_modes_are_caught_in_virtual_time(spec: str, mode: LockMode) -> None:
    """The daemon's default policy, not only a random one, lets the race tests catch the broken modes."""
    caught = [seed for seed in range(8) if run_race(parse_workload(spec), mode, seed, reads=3, policy=VirtualSlicePolicy()).violations]
    assert len(caught) >= 4, f"{spec} {mode.value}: caught on seeds {caught} of 8"


@pytest.mark.parametrize("mode", [LockMode.VMA, LockMode.MMAP], ids=lambda mode: mode.value)
@pytest.mark.parametrize("spec", ["toggler:split", "toggler:remap"])
def test_correct_modes_never_tear_in_virtual_time(spec: str, mode: LockMode) -> None:
    for seed in range(8):
        result = run_race(parse_workload(spec), mode, seed, reads=3, policy=VirtualSlicePolicy())
        assert not result.violations, f"{spec} {mode.value}: {result}"


POLICIES: dict[str, Callable[[int], Policy]] = {
    "random:0.5": lambda seed: RandomPolicy(seed, 0.5),
    "random:0.05": lambda seed: RandomPolicy(seed, 0.05),
    "virtual": lambda seed: VirtualSlicePolicy(),
    "virtual:1": lambda seed: VirtualSlicePolicy(1),
}


@pytest.mark.parametrize("mode", list(LockMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize("spec", ["toggler:split", "toggler:remap", "scenario:3"])
def test_fast_path_reads_and_counts_exactly_as_the_awaited_path(spec: str, mode: LockMode) -> None:
    """Same seeded run, reader fast path on and off: the same bytes, the same interleaving, the same counters."""
    for seed in range(2):
        for name, make in POLICIES.items():
            fast = run_race(parse_workload(spec), mode, seed, reads=3, policy=make(seed))
            slow = run_race(parse_workload(spec), mode, seed, reads=3, policy=make(seed), fast=False)
            assert (fast.digest, fast.counters, [str(v) for v in fast.violations]) == (
                slow.digest, slow.counters, [str(v) for v in slow.violations]), f"seed {seed}, {name}"


def four_pages(process: Process) -> None:
    """300 VMAs that cannot merge: about four pages of maps for a workload to write beside."""
    many_layout(process, 300)


@pytest.mark.parametrize("mode", list(LockMode), ids=lambda mode: mode.value)
def test_fast_path_runs_between_writers_read_and_count_exactly_as_the_awaited_path(mode: LockMode, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A mapper writing flat out while maps spans several pages: runs of records and writer steps share pages.

    Wherever a run stops (a yield the policy foresaw, a window at the page
    boundary), a writer may step in before the next record; the read must
    still give the awaited path's bytes, interleaving and counters.
    """
    pages_with_runs: list[PageWindow] = []
    take_nowait = MapsIterator.take_nowait

    def recording_take(self: MapsIterator, *args: int) -> tuple[list[bytes], Vma | None, int, bool, int]:
        result = take_nowait(self, *args)  # type: ignore[arg-type]
        if result[0] and isinstance(self.observer, PageRecorder):
            pages_with_runs.append(self.observer.windows[-1])
        return result

    monkeypatch.setattr(MapsIterator, "take_nowait", recording_take)
    shared = 0
    for seed in range(2):
        for name, make in POLICIES.items():
            pages_with_runs.clear()
            fast = run_race(Mapper(seed, pause=None, pages=64), mode, seed, reads=3, policy=make(seed), layout=four_pages)
            shared += sum(1 for window in pages_with_runs if window.writer_steps_inside)
            slow = run_race(
                Mapper(seed, pause=None, pages=64), mode, seed, reads=3, policy=make(seed), fast=False, layout=four_pages)
            assert (fast.digest, fast.counters, [str(v) for v in fast.violations]) == (
                slow.digest, slow.counters, [str(v) for v in slow.violations]), f"seed {seed}, {name}"
    # mmap_lock keeps writers out of a page; every other mode lets them step between runs.
    assert (shared > 0) == (mode is not LockMode.MMAP), shared
