"""scripts/bench-latency: writer latency while maps is scanned, mmap_lock against per-VMA locks.

The method of github.com/paulmckrcu/proc-mmap_sem-test: the daemon's
``mapper`` workload maps and unmaps random 4 KiB pages of a 128 MiB region,
sleeping about 10 us between operations, while N real scanner processes
(``nice -n 15`` shell loops of ``cat MNT/PID/maps``) read its maps through the
mount.  Each run starts a fresh daemon and stops it (SIGTERM) before the
scanners, so every operation in its stats file overlapped them.  Per run:
``opmax`` (the longest operation) and the mean operation latency, after
dropping the first ``--warmup`` fraction of operations (the region is still
fragmenting from one VMA and the scanners are starting).  Per lock mode and N: the
median, minimum and maximum of those over the runs, as run-proc-vs-map.sh
prints them.  Targets (N=2): the vma mode's median mean latency <= 0.5x the
mmap mode's and its maximum opmax <= 0.2x.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..lab.daemon import mounted, spawn
from .common import (
    REPO,
    Cleanup,
    dump_json,
    end_group,
    ensure_matplotlib,
    find_comm,
    machine,
    run_guarded,
    scheduling_noise,
    target,
)

#: One scanner: ``while cat MAPS >/dev/null; do :; done``, plus one byte appended per completed cat
#: (a shell builtin) so the runs can report how many scans they overlapped.
SCANNER_LOOP = 'while cat "$0" >/dev/null; do printf . >>"$1"; done'
TARGET_SCANNERS = 2
TARGET_MEDIAN_RATIO = 0.5
TARGET_MAX_RATIO = 0.2


@dataclass
class Run:
    mode: str
    scanners: int
    sample: int
    seconds: float
    ops: int
    skipped: int
    opmax_us: float
    mean_us: float
    p50_us: float
    p99_us: float
    vmas: int
    scans: int | None
    #: The same in the simulated machine's virtual time, which host load does not move.
    virtual_opmax_us: float
    virtual_mean_us: float


def percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return float(sorted_values[index])


def one_run(mode: str, scanners: int, sample: int, args: argparse.Namespace) -> Run:
    """One daemon, N scanners, ``args.duration`` seconds; always torn down."""
    with Cleanup() as cleanup:
        base = cleanup.workdir("fakeproc-bench-latency-")
        stats_file = base / "stats.json"
        options = ["--population", "empty", "--workload", "mapper", "--lock-mode", mode, "--stats-file", str(stats_file)]
        if args.preempt:
            options += ["--preempt", args.preempt]
        daemon = cleanup.enter_context(mounted(base, *options, own_session=True))
        maps = daemon.path / str(find_comm(daemon.path, "mapper")) / "maps"
        loops = []
        counter_dir = base / "scans"
        counter_dir.mkdir()
        for index in range(scanners):
            process = spawn(["nice", "-n", "15", "sh", "-c", SCANNER_LOOP, str(maps), str(counter_dir / str(index))],
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cleanup.callback(end_group, process)
            loops.append(process)
        began = time.monotonic()
        time.sleep(args.duration)
        # The daemon first, so every operation it records overlapped the scanners; it
        # unmounts lazily, their cat fails, and the loops end (end_group makes sure).
        code = daemon.stop()
        seconds = time.monotonic() - began
        for process in loops:
            end_group(process)
        if code != 0 or not stats_file.exists():
            raise RuntimeError(f"daemon exited with {code} and no stats: {daemon.log.read_text()[-2000:]}")
        stats = json.loads(stats_file.read_text())
        scans = sum(path.stat().st_size for path in counter_dir.iterdir()) if scanners else None
    [workload] = [w for w in stats["workloads"] if w["name"] == "mapper"]
    latencies = workload["latencies_ns"]
    skipped = int(len(latencies) * args.warmup)
    kept = latencies[skipped:]
    if not kept:
        raise RuntimeError(f"no mapper operations recorded in {seconds:.1f}s")
    ordered = sorted(kept)
    virtual = workload["virtual_latencies_ns"][skipped:]
    vmas = max((p["vmas"] for p in stats["processes"].values() if p["comm"] == "mapper"), default=0)
    return Run(
        mode, scanners, sample, round(seconds, 3), len(kept), skipped,
        ordered[-1] / 1e3, statistics.fmean(kept) / 1e3,
        percentile(ordered, 0.5) / 1e3, percentile(ordered, 0.99) / 1e3, vmas, scans,
        max(virtual) / 1e3, statistics.fmean(virtual) / 1e3,
    )


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs: list[Run], modes: list[str], counts: list[int]) -> dict[str, object]:
    table = []
    for mode in modes:
        for count in counts:
            mine = [run for run in runs if run.mode == mode and run.scanners == count]
            if not mine:
                continue
            table.append({
                "mode": mode,
                "scanners": count,
                "runs": len(mine),
                "opmax_us": spread([run.opmax_us for run in mine]),
                "mean_us": spread([run.mean_us for run in mine]),
                "p50_us": spread([run.p50_us for run in mine]),
                "p99_us": spread([run.p99_us for run in mine]),
                "ops_per_run": spread([float(run.ops + run.skipped) for run in mine]),
                "vmas_at_end": spread([float(run.vmas) for run in mine]),
                "scans_per_run": spread([float(run.scans) for run in mine]) if count else None,
                "virtual_opmax_us": spread([run.virtual_opmax_us for run in mine]),
                "virtual_mean_us": spread([run.virtual_mean_us for run in mine]),
            })
    row = {(entry["mode"], entry["scanners"]): entry for entry in table}
    mmap, vma = row.get(("mmap", TARGET_SCANNERS)), row.get(("vma", TARGET_SCANNERS))
    median_ratio = max_ratio = virtual_median_ratio = virtual_max_ratio = None
    if mmap and vma:
        median_ratio = vma["mean_us"]["median"] / mmap["mean_us"]["median"]  # type: ignore[index]
        max_ratio = vma["opmax_us"]["max"] / mmap["opmax_us"]["max"]  # type: ignore[index]
        virtual_median_ratio = _ratio(vma["virtual_mean_us"]["median"], mmap["virtual_mean_us"]["median"])  # type: ignore[index]
        virtual_max_ratio = _ratio(vma["virtual_opmax_us"]["max"], mmap["virtual_opmax_us"]["max"])  # type: ignore[index]
    return {
        "table": table,
        "targets": {
            f"median_op_latency_vma_over_mmap_N{TARGET_SCANNERS}": target(median_ratio, TARGET_MEDIAN_RATIO),
            f"max_op_latency_vma_over_mmap_N{TARGET_SCANNERS}": target(max_ratio, TARGET_MAX_RATIO),
            f"virtual_median_op_latency_vma_over_mmap_N{TARGET_SCANNERS}": target(virtual_median_ratio, TARGET_MEDIAN_RATIO),
            f"virtual_max_op_latency_vma_over_mmap_N{TARGET_SCANNERS}": target(virtual_max_ratio, TARGET_MAX_RATIO),
        },
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def print_table(summary: dict[str, object], out) -> None:  # type: ignore[no-untyped-def]
    def triple(d: dict[str, float]) -> str:
        return f"{d['median']:9.1f} {d['min']:9.1f} {d['max']:9.1f}"

    print("", file=out)
    print("                   opmax (us)                    mean op latency (us)        p99 (us)"
          "                      virtual time (us)", file=out)
    print("mode  N  runs    median       min       max    median       min       max    median   ops/run  VMAs  scans/run"
          "  opmax max  mean median", file=out)
    for entry in summary["table"]:  # type: ignore[attr-defined]
        scans = entry["scans_per_run"]
        print(
            f"{entry['mode']:<4} {entry['scanners']:2d} {entry['runs']:5d} {triple(entry['opmax_us'])} "
            f"{triple(entry['mean_us'])} {entry['p99_us']['median']:9.1f} {entry['ops_per_run']['median']:9.0f} "
            f"{entry['vmas_at_end']['median']:5.0f}"
            f" {scans['median'] if scans else 0:9.0f}"
            f" {entry['virtual_opmax_us']['max']:10.1f} {entry['virtual_mean_us']['median']:12.2f}",
            file=out,
        )
    noise = summary["scheduling_noise"]
    print(f"machine noise (longest gap a busy loop saw, before/after): {noise['before']['longest_gap_us']:.0f} / "  # type: ignore[index]
          f"{noise['after']['longest_gap_us']:.0f} us; load average {summary['machine']['loadavg']:.2f}", file=out)  # type: ignore[index]
    print("", file=out)
    for name, result in summary["targets"].items():  # type: ignore[attr-defined]
        value = "n/a" if result["value"] is None else f"{result['value']:.3f}"
        verdict = {True: "met", False: "MISSED", None: "not measured"}[result["met"]]
        print(f"{name}: {value} (target {result['target']}): {verdict}", file=out)


def write_results(runs: list[Run], summary: dict[str, object], results: Path, modes: list[str], counts: list[int]) -> list[Path]:
    results.mkdir(parents=True, exist_ok=True)
    written = []
    runs_csv = results / "latency-runs.csv"
    with open(runs_csv, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(asdict(runs[0]).keys()))
        writer.writeheader()
        for run in runs:
            writer.writerow(asdict(run))
    written.append(runs_csv)
    summary_csv = results / "latency-summary.csv"
    with open(summary_csv, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["mode", "scanners", "runs", "opmax_median_us", "opmax_min_us", "opmax_max_us",
                         "mean_median_us", "mean_min_us", "mean_max_us"])
        for entry in summary["table"]:  # type: ignore[attr-defined]
            writer.writerow([entry["mode"], entry["scanners"], entry["runs"],
                             *(f"{entry['opmax_us'][k]:.1f}" for k in ("median", "min", "max")),
                             *(f"{entry['mean_us'][k]:.1f}" for k in ("median", "min", "max"))])
    written.append(summary_csv)
    plt = ensure_matplotlib()
    if plt is not None:
        png = results / "latency.png"
        plot(plt, summary, png, modes, counts)
        written.append(png)
    return written


def plot(plt, summary: dict[str, object], png: Path, modes: list[str], counts: list[int]) -> None:  # type: ignore[no-untyped-def]
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    panels = ((axes[0], "opmax_us", "opmax: longest mmap/munmap", "ms", 1e-3),
              (axes[1], "mean_us", "mean mmap/munmap latency", "µs", 1.0))
    for ax, key, title, unit, scale in panels:
        lowest, highest = float("inf"), 0.0
        for offset, mode in enumerate(modes):
            rows = [e for e in summary["table"] if e["mode"] == mode]  # type: ignore[attr-defined]
            xs = [e["scanners"] + (offset - 0.5) * 0.12 for e in rows]
            med = [e[key]["median"] * scale for e in rows]
            low = [(e[key]["median"] - e[key]["min"]) * scale for e in rows]
            high = [(e[key]["max"] - e[key]["median"]) * scale for e in rows]
            ax.errorbar(xs, med, yerr=[low, high], marker="o", capsize=3, label=f"{mode} lock")
            lowest = min([lowest] + [e[key]["min"] * scale for e in rows])
            highest = max([highest] + [e[key]["max"] * scale for e in rows])
        ax.set_yscale("log")
        # Ticks at 1-1.5-2-3-5-7 of each decade, all labelled: a range of less than one decade
        # (opmax spans about 1-15 ms) still gets several readable ticks, including below 5.
        ax.set_ylim(lowest / 1.25, highest * 1.25)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(counts)
        ax.set_xlabel("scanners (nice 15 cat loops)")
        ax.set_ylabel(f"{unit}, log scale\n(median; bars: min to max of runs)", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png)
    plt.close(figure)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench-latency",
        description="mmap/munmap latency of the mapper workload while N cat loops scan its maps (mmap vs vma lock mode).",
    )
    parser.add_argument("--duration", type=float, help="seconds per run (default 4; 1.5 with --quick)")
    parser.add_argument("--nsamples", type=int, help="runs per lock mode and N (default 5; 2 with --quick)")
    parser.add_argument("--scanners", default="0,1,2,4", help="comma-separated scanner counts (default 0,1,2,4)")
    parser.add_argument("--modes", default="mmap,vma", help="comma-separated lock modes (default mmap,vma)")
    parser.add_argument("--warmup", type=float, default=0.2,
                        help="fraction of each run's first operations to drop (default 0.2)")
    parser.add_argument("--preempt", help="the daemon's --preempt policy (default: its own, virtual:8)")
    parser.add_argument("--quick", action="store_true", help="a run under a minute: --duration 1.5 --nsamples 2")
    parser.add_argument("--results", type=Path, default=REPO / "results", help="folder for CSV and PNG (default results/)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout (the table goes to stderr)")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 1.5 if args.quick else 4.0
    if args.nsamples is None:
        args.nsamples = 2 if args.quick else 5
    if args.duration <= 0 or args.nsamples < 1:
        parser.error("--duration must be positive and --nsamples at least 1")
    if not 0 <= args.warmup < 1:
        parser.error("--warmup is a fraction in [0, 1)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modes = [mode for mode in args.modes.split(",") if mode]
    counts = [int(count) for count in args.scanners.split(",") if count]
    out = sys.stderr if args.json else sys.stdout
    runs: list[Run] = []
    began = time.monotonic()
    noise = [scheduling_noise()]
    def collect() -> None:
        # Interleave modes and N within each sample so slow drifts of the machine hit all alike.
        for sample in range(args.nsamples):
            for count in counts:
                for mode in modes:
                    run = one_run(mode, count, sample, args)
                    runs.append(run)
                    print(f"  {mode:<4} N={count} sample {sample + 1}/{args.nsamples}: "
                          f"{run.ops} ops, opmax {run.opmax_us:.0f} us, mean {run.mean_us:.1f} us, "
                          f"{run.vmas} VMAs", file=sys.stderr, flush=True)

    status = run_guarded("bench-latency", collect)
    if status is not None:
        return status
    noise.append(scheduling_noise())
    summary = summarize(runs, modes, counts)
    summary.update({
        "scheduling_noise": {"before": noise[0], "after": noise[1]},
        "method": {"duration_s": args.duration, "nsamples": args.nsamples, "warmup_fraction": args.warmup,
                   "preempt": args.preempt or "virtual:8 (daemon default)", "seconds_total": round(time.monotonic() - began, 1)},
        "machine": machine(),
    })
    print_table(summary, out)
    written = write_results(runs, summary, args.results, modes, counts)
    print("wrote " + ", ".join(str(path) for path in written), file=out)
    if args.json:
        dump_json(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
