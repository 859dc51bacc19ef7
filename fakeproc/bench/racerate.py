"""How reliably ``scripts/race.sh`` tells a broken lock mode from a correct one.

For each lock mode the script runs ``scripts/race.sh`` N times, each time
against a fresh daemon (:func:`fakeproc.lab.daemon.mounted`, ``--population
empty``) that it unmounts afterwards, and reports per mode: how many runs
failed, how long into its race the first failure came (the C test's ``#
TEST: first failure after X s`` line), the boundary reads per second and the
helper's modify/restore cycles per second.  A broken mode (``vma-nogapcheck``,
``nolock``) is expected to be caught in at least 19 runs of 20 within
``DURATION``; a correct one (``vma``, ``mmap``) to pass every run.

``--hog`` adds one busy process per CPU for the whole measurement, to see
whether a loaded machine hides a race.  Every daemon, race test and hog is
ended on success, on an error, on Ctrl-C and on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from ..lab.daemon import mounted, spawn
from ..mm.walk import LockMode
from .common import REPO, Cleanup, dump_json, end_group, machine, run_guarded, target

RACE_SH = REPO / "scripts" / "race.sh"
DEFAULT_MODES = ("vma-nogapcheck", "vma", "mmap")
#: Modes whose locking is wrong on purpose: the race test must fail there.
BROKEN_MODES = frozenset({LockMode.VMA_NOGAPCHECK, LockMode.NOLOCK})
#: A broken mode must be caught in at least this share of runs (19 of 20).
CAUGHT_SHARE = 0.95
#: Seconds race.sh may take beyond its tests' races: building the binary, spawning, mapping.
RUN_SLACK_S = 120.0
#: race.sh runs at most this many tests (all of them when none is named).
MOST_TESTS = 6
#: The tests that read ``maps`` end in this; the ``smaps`` ones are slower per read and always take mmap_lock.
MAPS_SUFFIX = "_maps"
#: Boundary reads per second the ``maps`` tests should reach in ``vma`` mode on an idle machine.
MAPS_READS_PER_S_TARGET = 2000.0

_READS = re.compile(r"^# (\S+): \d+ boundary reads, ([0-9.]+)/s$", re.M)
_CYCLES = re.compile(r"^# (\S+): \d+ modify/restore cycles \(([0-9.]+)/s\)", re.M)
_FIRST_FAILURE = re.compile(r"^# \S+: first failure after ([0-9.]+) s$", re.M)
_NOT_OK = re.compile(r"^not ok \d+ (\S+)(?: - (.*))?$", re.M)
#: How much of a failed test's reason a run keeps.
REASON_CHARS = 300


@dataclass
class RaceRun:
    """One ``race.sh`` run against a fresh daemon."""

    mode: str
    index: int
    exit_status: int
    wall_s: float
    #: Each failed test's name and the start of its reason.
    failed_tests: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: Seconds into its race that the first failing test failed; None when no test failed.
    first_failure_s: float | None = None
    #: Boundary reads per second of each test that reached its race, by test name.
    reads_per_s: dict[str, float] = field(default_factory=dict)
    #: Modify/restore cycles per second of each test that reached its race, by test name.
    cycles_per_s: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.exit_status != 0


def parse_tap(mode: str, index: int, exit_status: int, wall_s: float, output: str) -> RaceRun:
    """A run's figures from race.sh's TAP output.  O(len(output)).

    Tests run one after another and each stops at its first failure, so the
    first ``first failure`` line is the run's first failure.
    """
    not_ok = _NOT_OK.findall(output)
    failures = _FIRST_FAILURE.findall(output)
    return RaceRun(mode, index, exit_status, wall_s,
                   failed_tests=[test for test, _ in not_ok],
                   reasons=[reason[:REASON_CHARS] for _, reason in not_ok],
                   first_failure_s=float(failures[0]) if failures else None,
                   reads_per_s={test: float(rate) for test, rate in _READS.findall(output)},
                   cycles_per_s={test: float(rate) for test, rate in _CYCLES.findall(output)})


def one_run(work: Path, mode: str, index: int, args: argparse.Namespace) -> RaceRun:
    """race.sh against a daemon mounted for it alone under ``work``; both are gone when this returns."""
    base = work / f"{mode}-{index}"
    base.mkdir()
    with mounted(base, "--population", "empty") as mount:
        env = dict(os.environ, DURATION=f"{args.duration:g}", LOCK_MODE=mode, BUILD_DIR=str(args.build))
        began = time.monotonic()
        race = spawn([str(RACE_SH), str(mount.path), *args.tests], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            output, _ = race.communicate(timeout=RUN_SLACK_S + (len(args.tests) or MOST_TESTS) * 2 * args.duration)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"race.sh in mode {mode} did not finish in time") from None
        finally:
            # The C test and its helper lead their own group; nothing of it may outlive the run.
            end_group(race)
        wall_s = time.monotonic() - began
    text = output.decode(errors="replace")
    if race.returncode == 2:
        raise RuntimeError(f"race.sh refused to run: {text.strip()[-2000:]}")
    return parse_tap(mode, index, race.returncode, wall_s, text)


def start_hogs(cleanup: Cleanup) -> int:
    """One ``yes > /dev/null`` per CPU this process may run on, ended with the cleanup; how many."""
    count = len(os.sched_getaffinity(0))
    for _ in range(count):
        hog = spawn(["yes"], stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        cleanup.callback(end_group, hog)
    return count


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def summarize_mode(mode: str, runs: Sequence[RaceRun], duration: float) -> dict[str, object]:
    """One mode's row: counts, first-failure times, rates, and whether the expectation is met.  O(runs)."""
    broken = LockMode.parse(mode) in BROKEN_MODES
    failed = [run for run in runs if run.failed]
    caught = [run for run in failed if run.first_failure_s is not None and run.first_failure_s <= duration]
    reads = [rate for run in runs for rate in run.reads_per_s.values()]
    maps_reads = [rate for run in runs for test, rate in run.reads_per_s.items() if test.endswith(MAPS_SUFFIX)]
    cycles = [rate for run in runs for rate in run.cycles_per_s.values()]
    if broken:
        needed = math.ceil(CAUGHT_SHARE * len(runs))
        expectation = f">= {needed}/{len(runs)} caught within {duration:g} s"
        met = len(caught) >= needed
    else:
        expectation = f"{len(runs)}/{len(runs)} pass"
        met = not failed
    return {
        "mode": mode,
        "broken": broken,
        "runs": len(runs),
        "failed_runs": len(failed),
        "caught_runs": len(caught),
        "first_failure_s": _spread([run.first_failure_s for run in failed if run.first_failure_s is not None]),
        "reads_per_s_median": _median(reads),
        "maps_reads_per_s_median": _median(maps_reads),
        "cycles_per_s_median": _median(cycles),
        "expectation": expectation,
        "met": met,
    }


def targets(rows: Sequence[dict[str, object]], duration: float) -> dict[str, dict[str, object]]:
    """Each mode's expectation as a target, and the ``maps`` tests' reads/s in ``vma`` mode.  O(modes).

    Each target also carries its mode's run count and ``DURATION``, which its wording quotes.
    """
    found: dict[str, dict[str, object]] = {}
    for row in rows:
        runs, failed, caught = row["runs"], row["failed_runs"], row["caught_runs"]
        assert isinstance(runs, int) and isinstance(failed, int) and isinstance(caught, int)
        if row["broken"]:
            result = target(caught, math.ceil(CAUGHT_SHARE * runs), at_most=False)
            key = f"{row['mode']}_caught_runs"
        else:
            result = target(runs - failed, runs, at_most=False)
            key = f"{row['mode']}_passed_runs"
        found[key] = {**result, "runs": runs, "duration_s": duration}
        if row["mode"] == LockMode.VMA.value:
            found["vma_maps_reads_per_s"] = {**target(row["maps_reads_per_s_median"], MAPS_READS_PER_S_TARGET,
                                                      at_most=False), "runs": runs, "duration_s": duration}
    return found


def print_table(rows: Sequence[dict[str, object]], out: IO[str]) -> None:
    def number(value: object, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    print(f"{'mode':<15} {'runs':>4} {'failed':>6} {'1st failure s med/max':>22} {'reads/s':>8} {'cycles/s':>8}  "
          "expectation", file=out)
    for row in rows:
        spread = row["first_failure_s"]
        assert isinstance(spread, dict)
        first = f"{number(spread['median'], 3)} / {number(spread['max'], 3)}"
        verdict = "met" if row["met"] else "MISSED"
        print(f"{row['mode']:<15} {row['runs']:>4} {row['failed_runs']:>6} {first:>22} "
              f"{number(row['reads_per_s_median'], 1):>8} {number(row['cycles_per_s_median'], 1):>8}  "
              f"{row['expectation']}: {verdict}", file=out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="race-rate",
        description="Run scripts/race.sh N times per lock mode, each against a fresh daemon, and report how "
                    "often and how fast it fails in broken modes and that it passes in correct ones.",
    )
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES),
                        help=f"comma-separated lock modes (default {','.join(DEFAULT_MODES)})")
    parser.add_argument("--runs", type=int, default=20, help="race.sh runs per mode (default 20)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per race test: race.sh's DURATION (default 5)")
    parser.add_argument("--tests", default="",
                        help="comma-separated race.sh tests, e.g. split_maps,remap_maps (default: all of them)")
    parser.add_argument("--hog", action="store_true", help="keep one busy process per CPU running throughout")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout (the table goes to stderr)")
    args = parser.parse_args(argv)
    args.modes = [mode for mode in args.modes.split(",") if mode]
    args.tests = [test for test in args.tests.split(",") if test]
    if not args.modes:
        parser.error("--modes names no lock mode")
    for mode in args.modes:
        try:
            LockMode.parse(mode)
        except ValueError as error:
            parser.error(str(error))
    if args.runs < 1 or args.duration <= 0:
        parser.error("--runs must be at least 1 and --duration positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json else sys.stdout
    runs: list[RaceRun] = []
    hogs = 0
    began = time.monotonic()

    def collect() -> None:
        nonlocal hogs
        with Cleanup() as cleanup:
            work = cleanup.workdir("racerate-")
            args.build = work / "build"
            if args.hog:
                hogs = start_hogs(cleanup)
            # Modes take turns run by run, so a drift of the machine's load hits them all alike.
            for index in range(args.runs):
                for mode in args.modes:
                    run = one_run(work, mode, index, args)
                    runs.append(run)
                    verdict = f"failed ({', '.join(run.failed_tests) or f'exit {run.exit_status}'})" \
                        if run.failed else "passed"
                    first = "" if run.first_failure_s is None else f", first failure after {run.first_failure_s:g} s"
                    print(f"  {mode:<15} run {index + 1}/{args.runs}: {verdict}{first}", file=sys.stderr, flush=True)
                    if run.failed and LockMode.parse(mode) not in BROKEN_MODES:
                        for test, reason in zip(run.failed_tests, run.reasons):
                            print(f"    {test}: {reason}", file=sys.stderr, flush=True)

    status = run_guarded("race-rate", collect)
    if status is not None:
        return status
    rows = [summarize_mode(mode, [run for run in runs if run.mode == mode], args.duration) for mode in args.modes]
    print_table(rows, out)
    if args.json:
        dump_json({
            "modes": rows,
            "targets": targets(rows, args.duration),
            "runs": [asdict(run) for run in runs],
            "method": {"runs_per_mode": args.runs, "duration_s": args.duration, "tests": args.tests or "all",
                       "hog": args.hog, "hogs": hogs, "seconds_total": round(time.monotonic() - began, 1)},
            "machine": machine(),
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
