"""scripts/bench-report: write docs/benchmarks.md from the benchmark scripts' JSON.

Every figure in the document is filled in from ``scripts/bench-latency --json``,
``scripts/bench-read --json`` and two ``scripts/race-rate --json`` outputs (one
on an idle machine, one with ``--hog``), so the text cannot disagree with its
tables: the prose lives in ``benchmarks.md.in`` next to this module, with
``{{name}}`` where a figure goes.  The targets table and the MISSED lines come
from ``TARGETS``.  The latency plot is redrawn from the same JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import REPO, ensure_matplotlib
from .latency import plot

TEMPLATE = Path(__file__).with_name("benchmarks.md.in")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

Summary = Mapping[str, Any]


def ratio(value: float) -> str:
    return f"{value:.2f}"


def times(value: float) -> str:
    return f"{value:.1f}×"


def count(value: float) -> str:
    return f"{value:,.0f}"


def milliseconds(seconds: float) -> str:
    """Three significant figures at most, in ms."""
    ms = seconds * 1e3
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def microseconds(us: float) -> str:
    return f"{us:.0f} µs" if us >= 100 else f"{us:.1f} µs"


@dataclass(frozen=True)
class Target:
    """One row of the targets table: what is promised and which benchmark figure checks it."""

    benchmark: str  # "latency", "read", "race_idle" or "race_hog": which JSON summary holds it
    key: str  # its name under that summary's "targets"
    # With {bound} where the JSON's limit goes, so the limit is stated in one place only; a race-rate
    # target's wording may also quote its result's {runs} and {duration_s}.
    what: str
    source: str
    show: Callable[[float], str]

    def stated(self, result: Summary) -> str:
        operator, limit = limit_of(result)
        return self.what.format(**{**result, "bound": f"{'≤' if operator == '<=' else '≥'} {amount(limit)}"})


TARGETS: tuple[Target, ...] = (
    Target("latency", "median_op_latency_vma_over_mmap_N2",
           "Writer latency, N=2 scanners: `vma` median of run means {bound}× `mmap`'s",
           "`scripts/bench-latency`, mean latency, median over runs", ratio),
    Target("latency", "max_op_latency_vma_over_mmap_N2",
           "Writer latency, N=2 scanners: `vma` largest opmax {bound}× `mmap`'s",
           "`scripts/bench-latency`, opmax, maximum over runs", ratio),
    Target("read", "cat_largest_over_kernel", "`cat` of the largest process {bound}× the kernel",
           "`scripts/bench-read`, a/b at the largest size", times),
    Target("read", "cat_largest_over_floor", "mount {bound}× the FUSE floor",
           "`scripts/bench-read`, a/c at the largest size", times),
    Target("read", "scaling_exponent", "Scaling exponent of the mount's read {bound}",
           "`scripts/bench-read`, log-log slope of (a)", ratio),
    Target("read", "model_ops_per_s", "Model operations per second {bound}",
           "`scripts/bench-read`, mapper operations in-process", count),
    Target("read", "bytes_per_vma", "Daemon memory {bound} bytes per VMA",
           "`scripts/bench-read`, VmRSS growth over the largest clone", count),
    Target("race_idle", "vma-nogapcheck_caught_runs",
           "`vma-nogapcheck` caught within {duration_s:g} s in {bound} of {runs} runs, idle machine",
           "`scripts/race-rate`, runs failed within DURATION", count),
    Target("race_hog", "vma-nogapcheck_caught_runs",
           "`vma-nogapcheck` caught within {duration_s:g} s in {bound} of {runs} runs, CPU hog",
           "`scripts/race-rate --hog`, runs failed within DURATION", count),
    Target("race_idle", "vma_passed_runs", "`vma` passes in {bound} of {runs} runs, idle machine",
           "`scripts/race-rate`, runs without a failure", count),
    Target("race_hog", "vma_passed_runs", "`vma` passes in {bound} of {runs} runs, CPU hog",
           "`scripts/race-rate --hog`, runs without a failure", count),
    Target("race_idle", "mmap_passed_runs", "`mmap` passes in {bound} of {runs} runs, idle machine",
           "`scripts/race-rate`, runs without a failure", count),
    Target("race_hog", "mmap_passed_runs", "`mmap` passes in {bound} of {runs} runs, CPU hog",
           "`scripts/race-rate --hog`, runs without a failure", count),
    Target("race_idle", "vma_maps_reads_per_s", "Boundary reads per second of the `maps` tests in `vma` mode {bound}",
           "`scripts/race-rate`, median over the runs, idle machine", count),
)


def limit_of(result: Summary) -> tuple[str, float]:
    """``("<=", 3.0)`` from a result's ``"target": "<= 3"``."""
    operator, limit = result["target"].split()
    return operator, float(limit)


def amount(value: float) -> str:
    """Two significant figures, as precise as the figures the lines quote."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2g}"


def factor(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 2 else f"{value:.2f}"


def gap(result: Summary) -> str:
    """How far a missed figure is from its limit: the difference and the factor."""
    operator, limit = limit_of(result)
    value = result["value"]
    if operator == "<=":
        return f"{amount(value - limit)} over the limit of {amount(limit)}, {factor(value / limit)} times it"
    if value == 0:  # a race target can count no runs at all
        return f"short of the limit of {amount(limit)}"
    return (f"{amount(limit - value)} short of the limit of {amount(limit)}, "
            f"which is {factor(limit / value)} times the figure")


def verdict(result: Summary) -> str:
    return {True: "met", False: "MISSED", None: "not measured"}[result["met"]]


def targets_section(summaries: Mapping[str, Summary]) -> tuple[str, str]:
    """The targets table and the MISSED lines, one per missed target; ValueError if a figure is missing.  O(targets)."""
    rows = ["| Target | Measured by | Figure | Met? |", "|---|---|---:|---|"]
    missed = []
    for target in TARGETS:
        results = summaries[target.benchmark]["targets"]
        if target.key not in results:
            # A race-rate run limited by --modes measures only some of its targets.
            raise ValueError(f"the {target.benchmark} JSON has no target {target.key!r} ({target.source})")
        result = results[target.key]
        shown = "n/a" if result["value"] is None else target.show(result["value"])
        rows.append(f"| {target.stated(result)} | {target.source} | **{shown}** | {verdict(result)} |")
        if result["met"] is False:
            missed.append(f"* **MISSED**: {target.stated(result)} (targets table; {target.source}, `{target.key}`): "
                          f"measured {shown}, {gap(result)}.")
    return "\n".join(rows), "\n".join(missed) or "No target was missed."


def latency_fields(summary: Summary) -> dict[str, str]:
    table = summary["table"]
    cell = {(row["mode"], row["scanners"]): row for row in table}
    method, noise = summary["method"], summary["scheduling_noise"]
    lines = ["| mode | N | runs | opmax median | min | max | mean: median | min | max | p99 (median) | scans per run |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in table:
        opmax, mean = row["opmax_us"], row["mean_us"]
        scans = count(row["scans_per_run"]["median"]) if row["scans_per_run"] else "0"
        lines.append(
            f"| {row['mode']} | {row['scanners']} | {row['runs']} | {opmax['median'] / 1e3:.1f} ms | "
            f"{opmax['min'] / 1e3:.1f} | {opmax['max'] / 1e3:.1f} | {microseconds(mean['median'])} | {mean['min']:.0f} | "
            f"{mean['max']:.0f} | {row['p99_us']['median'] / 1e3:.2f} ms | {scans} |")

    def series(mode: str, key: str, show: Callable[[float], str]) -> str:
        return " → ".join(show(row[key]["median"]) for row in table if row["mode"] == mode)

    def at(mode: str, scanners: int) -> Summary:
        return cell.get((mode, scanners)) or {}

    n2_mmap, n2_vma = at("mmap", 2), at("vma", 2)
    idle = [row["opmax_us"] for row in table if row["scanners"] == 0]
    targets = summary["targets"]
    median, maximum = targets["median_op_latency_vma_over_mmap_N2"], targets["max_op_latency_vma_over_mmap_N2"]
    return {
        "latency_runs": f"{method['nsamples']} runs × {method['duration_s']:g} s",
        "latency_seconds": f"{method['seconds_total']:.0f}",
        "latency_preempt": method["preempt"],
        "latency_load": f"{summary['machine']['loadavg']:.2f}",
        "noise_gap": f"{max(noise['before']['longest_gap_us'], noise['after']['longest_gap_us']) / 1e3:.1f} ms",
        "noise_rate": f"{max(noise['before']['gaps_over_1ms_per_s'], noise['after']['gaps_over_1ms_per_s']):.0f}",
        "latency_table": "\n".join(lines),
        "median_ratio": "n/a" if median["value"] is None else ratio(median["value"]),
        "median_verdict": verdict(median).capitalize(),
        "max_ratio": "n/a" if maximum["value"] is None else ratio(maximum["value"]),
        "max_verdict": verdict(maximum).capitalize(),
        "mean_n2_mmap": microseconds(n2_mmap["mean_us"]["median"]) if n2_mmap else "n/a",
        "mean_n2_vma": microseconds(n2_vma["mean_us"]["median"]) if n2_vma else "n/a",
        "opmax_n2_mmap": f"{n2_mmap['opmax_us']['max'] / 1e3:.1f} ms" if n2_mmap else "n/a",
        "opmax_n2_vma": f"{n2_vma['opmax_us']['max'] / 1e3:.1f} ms" if n2_vma else "n/a",
        "p99_n2_mmap": f"{n2_mmap['p99_us']['median'] / 1e3:.2f} ms" if n2_mmap else "n/a",
        "p99_n2_vma": f"{n2_vma['p99_us']['median'] / 1e3:.2f} ms" if n2_vma else "n/a",
        "mean_series_mmap": series("mmap", "mean_us", microseconds),
        "mean_series_vma": series("vma", "mean_us", microseconds),
        "p99_series_mmap": series("mmap", "p99_us", lambda us: f"{us / 1e3:.2f} ms"),
        "opmax_idle": (f"{min(o['min'] for o in idle) / 1e3:.1f}–{max(o['max'] for o in idle) / 1e3:.1f} ms"
                       if idle else "n/a"),
    }


def read_fields(summary: Summary) -> dict[str, str]:
    rows = summary["sizes"]
    largest = rows[-1]
    lines = ["| lines | bytes | (a) mount | (b) kernel | (c) floor | (d) in-process | a/b | a/c | µs per line (a) | (a) first read |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {count(row['vmas'])} | {count(row['bytes'])} | {milliseconds(row['mount_s'])} | "
            f"{milliseconds(row['kernel_s'])} | {milliseconds(row['floor_s'])} | {milliseconds(row['inprocess_s'])} | "
            f"{row['mount_over_kernel']:.1f} | {row['mount_over_floor']:.1f} | {row['mount_us_per_vma']:.2f} | "
            f"{milliseconds(row['mount_cold_s'])} |")
    per_line = 1e6 / largest["vmas"]
    rss = summary["rss"]
    [model, *never] = summary["model"]
    targets = summary["targets"]
    kernel_limit = limit_of(targets["cat_largest_over_kernel"])[1]
    floor_limit = limit_of(targets["cat_largest_over_floor"])[1]
    return {
        "read_runs": str(summary["method"]["runs"]),
        "read_lock_mode": summary["method"]["lock_mode"],
        "read_preempt": summary["method"]["preempt"],
        "read_load": f"{summary['machine']['loadavg']:.2f}",
        "read_table": "\n".join(lines),
        "all_identical": "always was" if all(row["identical"] for row in rows) else "was NOT in every size",
        "exponent": "n/a" if summary["exponent"] is None else f"{summary['exponent']:.2f}",
        "largest_lines": count(largest["vmas"]),
        "largest_mount": milliseconds(largest["mount_s"]),
        "largest_floor": milliseconds(largest["floor_s"]),
        "largest_inprocess": milliseconds(largest["inprocess_s"]),
        "floor_over_kernel": times(largest["floor_s"] / largest["kernel_s"]),
        "inprocess_per_line": microseconds(largest["inprocess_s"] * per_line),
        "inprocess_over_kernel": times(largest["inprocess_s"] / largest["kernel_s"]),
        "kernel_limit": f"{kernel_limit:g}",
        "floor_limit": f"{floor_limit:g}",
        "needed_mount": milliseconds(largest["kernel_s"] * kernel_limit),
        "needed_mount_per_line": f"{largest['kernel_s'] * kernel_limit * per_line:.2f} µs",
        "needed_model_per_line": f"{largest['floor_s'] * (floor_limit - 1) * per_line:.2f} µs",
        "model_ops": count(model["ops"]),
        "model_ops_per_s": count(model["ops_per_s"]),
        "model_us_per_op": microseconds(model["us_per_op"]),
        "model_preempt": model["preempt"],
        "model_vmas": count(model["vmas_at_end"]),
        "model_never": (f"{count(never[0]['ops_per_s'])} ops/s ({microseconds(never[0]['us_per_op'])})"
                        if never else "not measured"),
        "rss_before": count(rss["before_kb"]),
        "rss_after": count(rss["after_clone_kb"]),
        "rss_vmas": count(rss["vmas"]),
        "rss_per_vma": count(rss["bytes_per_vma"]),
        "rss_per_vma_read": count(rss["bytes_per_vma_with_line_cache"]),
    }


def race_fields(summary: Summary, name: str) -> dict[str, str]:
    """One race-rate run's table and method, as ``{name}_table`` and the like.  O(modes)."""

    def rate(value: float | None) -> str:
        return "–" if value is None else count(value)

    def seconds(value: float | None) -> str:
        # race-rate keeps first failures to the ms, and a broken mode's are often well under a second.
        return "–" if value is None else f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"

    lines = ["| mode | runs | failed | caught within DURATION | first failure: median | max | "
             "reads/s, `maps` tests | reads/s, all tests | cycles/s | expectation |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in summary["modes"]:
        first = row["first_failure_s"]
        lines.append(
            f"| {row['mode']} | {row['runs']} | {row['failed_runs']} | {row['caught_runs']} | "
            f"{seconds(first['median'])} | {seconds(first['max'])} | {rate(row['maps_reads_per_s_median'])} | "
            f"{rate(row['reads_per_s_median'])} | {rate(row['cycles_per_s_median'])} | "
            f"{row['expectation'].replace('>=', '≥')}: {'met' if row['met'] else 'MISSED'} |")
    method = summary["method"]
    tests = method["tests"]
    return {
        f"{name}_table": "\n".join(lines),
        f"{name}_method": (f"{method['runs_per_mode']} runs per mode, `DURATION` {method['duration_s']:g} s, "
                           f"tests: {'all of them' if tests == 'all' else ', '.join(f'`{test}`' for test in tests)}; "
                           f"{method['seconds_total']:.0f} s in all"),
        f"{name}_load": f"{summary['machine']['loadavg']:.2f}",
    }


def machine_line(latency: Summary, read: Summary) -> str:
    machine = latency["machine"]
    return (f"{machine['cpus']} CPUs, Linux {machine['kernel']}, Python {machine['python']}; load average "
            f"{latency['machine']['loadavg']:.2f} when `bench-latency` ended and {read['machine']['loadavg']:.2f} "
            f"when `bench-read` ended")


def fill(template: str, fields: Mapping[str, str]) -> str:
    """Replace every ``{{name}}``; a name without a field is an error, not a silent blank.  O(len(template))."""

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fields:
            raise KeyError(f"{TEMPLATE.name}: no figure named {{{{{name}}}}}")
        return fields[name]

    return PLACEHOLDER.sub(field, template)


def render(latency: Summary, read: Summary, race_idle: Summary, race_hog: Summary, template: str) -> str:
    """The whole document from the four summaries; ValueError if the race runs are swapped.  O(len(template))."""
    if race_idle["method"]["hog"] or not race_hog["method"]["hog"]:
        raise ValueError("the idle race-rate run must be without --hog and the hog run with it")
    targets_table, missed = targets_section(
        {"latency": latency, "read": read, "race_idle": race_idle, "race_hog": race_hog})
    fields = {
        **latency_fields(latency),
        **read_fields(read),
        **race_fields(race_idle, "race_idle"),
        **race_fields(race_hog, "race_hog"),
        "race_hogs": str(race_hog["method"]["hogs"]),
        "machine": machine_line(latency, read),
        "targets_table": targets_table,
        "missed": missed,
    }
    return fill(template, fields)


def redraw_plot(latency: Summary, png: Path) -> bool:
    """The latency figure, as bench-latency draws it, from the JSON; False without matplotlib."""
    plt = ensure_matplotlib()
    if plt is None:
        return False
    modes = list(dict.fromkeys(row["mode"] for row in latency["table"]))
    counts = sorted({row["scanners"] for row in latency["table"]})
    plot(plt, dict(latency), png, modes, counts)
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench-report",
        description="Write docs/benchmarks.md (and its plot) from the JSON of bench-latency --json, "
                    "bench-read --json, race-rate --json and race-rate --hog --json.",
    )
    parser.add_argument("latency", type=Path, help="the JSON that scripts/bench-latency --json printed")
    parser.add_argument("read", type=Path, help="the JSON that scripts/bench-read --json printed")
    parser.add_argument("race_idle", type=Path, help="the JSON that scripts/race-rate --json printed on an idle machine")
    parser.add_argument("race_hog", type=Path, help="the JSON that scripts/race-rate --hog --json printed")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md", help="default docs/benchmarks.md")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "benchmarks-latency.png",
                        help="default docs/benchmarks-latency.png")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        latency, read, race_idle, race_hog = (json.loads(path.read_text())
                                              for path in (args.latency, args.read, args.race_idle, args.race_hog))
        page = render(latency, read, race_idle, race_hog, TEMPLATE.read_text())
    except (OSError, ValueError) as error:
        print(f"bench-report: {error}", file=sys.stderr)
        return 1
    args.out.write_text(page)
    print(f"bench-report: wrote {args.out}", file=sys.stderr)
    if redraw_plot(latency, args.plot):
        print(f"bench-report: wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
