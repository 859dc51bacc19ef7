"""scripts/bench-report fills every figure of docs/benchmarks.md from the benchmarks' JSON."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fakeproc.bench import latency, racerate
from fakeproc.bench.common import target
from fakeproc.bench.report import TARGETS, TEMPLATE, fill, render

REPO = Path(__file__).resolve().parent.parent


def latency_summary() -> dict[str, Any]:
    """The shape bench-latency prints, built by its own summarize() from made-up runs."""
    runs = [
        latency.Run(mode, scanners, sample, 1.5, 1000, 250, opmax, mean, mean * 0.8, mean * 3, 900, scanners * 50 or None,
                    opmax / 10, mean / 10)
        for mode, scanners, opmax, mean in [
            ("mmap", 0, 9_000.0, 150.0), ("mmap", 2, 10_000.0, 640.0),
            ("vma", 0, 8_000.0, 145.0), ("vma", 2, 9_800.0, 190.0),
        ]
        for sample in range(2)
    ]
    summary: dict[str, Any] = latency.summarize(runs, ["mmap", "vma"], [0, 2])
    gap = {"seconds": 0.5, "longest_gap_us": 10_500.0, "gaps_over_1ms_per_s": 40.0}
    summary.update({
        "scheduling_noise": {"before": gap, "after": gap},
        "method": {"duration_s": 1.5, "nsamples": 2, "warmup_fraction": 0.2, "preempt": "slice:50 (daemon default)",
                   "seconds_total": 60.0},
        "machine": {"cpus": 2, "kernel": "6.1.0", "python": "3.11.7", "loadavg": 2.5},
    })
    return summary


def read_summary() -> dict[str, Any]:
    """The shape bench-read prints (its main() builds it inline)."""
    row = {"helper_vmas": 65500, "vmas": 65524, "bytes": 3211784, "identical": True, "mount_cold_s": 0.781,
           "mount_s": 0.5898, "kernel_s": 0.01684, "floor_s": 0.0925, "inprocess_s": 0.2462,
           "mount_us_per_vma": 9.0, "mount_over_kernel": 35.02, "mount_over_floor": 6.38}
    return {
        "sizes": [row],
        "exponent": 1.07,
        "rss": {"vmas": 65524, "before_kb": 30704, "after_clone_kb": 55556, "after_first_read_kb": 61500,
                "bytes_per_vma": 401.2, "bytes_per_vma_with_line_cache": 481.0},
        "model": [{"ops": 5000, "seconds": 0.5, "ops_per_s": 10000, "us_per_op": 100.0, "vmas_at_end": 2000,
                   "preempt": "slice:50 (default)"},
                  {"ops": 5000, "seconds": 0.33, "ops_per_s": 15000, "us_per_op": 66.7, "vmas_at_end": 2000,
                   "preempt": "never"}],
        "targets": {
            "cat_largest_over_kernel": target(35.02, 3.0),
            "cat_largest_over_floor": target(6.38, 1.5),
            "scaling_exponent": target(1.07, 1.1),
            "model_ops_per_s": target(10000, 100_000, at_most=False),
            "bytes_per_vma": target(401.2, 400),
        },
        "method": {"runs": 3, "lock_mode": "vma", "preempt": "slice:50 (daemon default)", "largest_vmas": 65524,
                   "read_buffer": 131072},
        "machine": {"cpus": 2, "kernel": "6.1.0", "python": "3.11.7", "loadavg": 2.1},
    }


def race_summary(hog: bool, nogapcheck_caught: int, vma_failed: int) -> dict[str, Any]:
    """The shape race-rate prints, built by its own parse_tap(), summarize_mode() and targets() from made-up output.

    Two runs per mode; in ``vma`` mode the maps test reads 2,400 boundaries a second and the smaps test 600.
    """
    duration = 5.0

    def tap(mode: str, index: int, fails: bool) -> racerate.RaceRun:
        rates = ("# split_maps: 9000 boundary reads, 2400.0/s\n# split_maps: 4000 modify/restore cycles (800.0/s), "
                 "4000 queries\n# split_smaps: 3000 boundary reads, 600.0/s\n")
        failure = f"not ok 1 split_maps - a false gap\n# split_maps: first failure after {0.5 + index:.3f} s\n"
        return racerate.parse_tap(mode, index, int(fails), 12.0, (failure if fails else "") + rates)

    runs = {"vma-nogapcheck": [tap("vma-nogapcheck", index, index < nogapcheck_caught) for index in range(2)],
            "vma": [tap("vma", index, index < vma_failed) for index in range(2)],
            "mmap": [tap("mmap", index, False) for index in range(2)]}
    rows = [racerate.summarize_mode(mode, mode_runs, duration) for mode, mode_runs in runs.items()]
    return {
        "modes": rows,
        "targets": racerate.targets(rows, duration),
        "method": {"runs_per_mode": 2, "duration_s": duration, "tests": ["split_maps", "split_smaps"], "hog": hog,
                   "hogs": 2 if hog else 0, "seconds_total": 80.0},
        "machine": {"cpus": 2, "kernel": "6.1.0", "python": "3.11.7", "loadavg": 4.1 if hog else 0.3},
    }


def summaries() -> tuple[dict[str, Any], ...]:
    """Idle: everything as expected.  Hog: one vma-nogapcheck run not caught and one vma run failed."""
    return (latency_summary(), read_summary(), race_summary(False, 2, 0), race_summary(True, 1, 1))


def test_every_placeholder_is_filled() -> None:
    text = render(*summaries(), TEMPLATE.read_text())
    assert "{{" not in text and "}}" not in text
    assert "n/a" not in text


def test_a_placeholder_without_a_figure_is_an_error() -> None:
    with pytest.raises(KeyError, match="no_such_figure"):
        fill("a {{no_such_figure}} here", {})


def test_the_targets_table_and_the_missed_lines_agree_with_the_json() -> None:
    text = render(*summaries(), TEMPLATE.read_text())
    missed = [line for line in text.splitlines() if line.startswith("* **MISSED**")]
    # mmap vs vma at N=2: mean 190/640 = 0.30 (met); opmax 9.8/10 = 0.98 (missed); four read targets; and the
    # hog run's uncaught vma-nogapcheck run and failed vma run.
    assert [re.search(r"`([\w-]+)`\)", line).group(1) for line in missed] == [  # type: ignore[union-attr]
        "max_op_latency_vma_over_mmap_N2", "cat_largest_over_kernel", "cat_largest_over_floor",
        "model_ops_per_s", "bytes_per_vma", "vma-nogapcheck_caught_runs", "vma_passed_runs",
    ]
    assert "measured 35.0×, 32 over the limit of 3, 12 times it" in text
    assert "measured 10,000, 90,000 short of the limit of 100,000, which is 10 times the figure" in text
    assert "targets table" in missed[0]
    table_rows = [line for line in text.splitlines() if any(f"| {t.source} |" in line for t in TARGETS)]
    assert len(table_rows) == len(TARGETS)
    assert "| `cat` of the largest process ≤ 3× the kernel |" in text and "| Model operations per second ≥ 100,000 |" in text
    assert "**0.30** | met" in text and "**0.98** | MISSED" in text
    assert "| `vma-nogapcheck` caught within 5 s in ≥ 2 of 2 runs, idle machine |" in text
    assert "* **MISSED**: `vma-nogapcheck` caught within 5 s in ≥ 2 of 2 runs, CPU hog" in text
    assert "measured 1, 1 short of the limit of 2, which is 2.0 times the figure" in text
    assert "| `vma` passes in ≥ 2 of 2 runs, CPU hog |" in text and "| `mmap` passes in ≥ 2 of 2 runs, idle machine |" in text
    # Only the maps test counts for the reads/s target: 2,400, not the median 1,500 with smaps.
    assert "| Boundary reads per second of the `maps` tests in `vma` mode ≥ 2,000 |" in text and "**2,400** | met" in text


def test_the_race_tables_quote_each_run() -> None:
    text = " ".join(render(*summaries(), TEMPLATE.read_text()).split())  # unwrapped
    assert "| vma-nogapcheck | 2 | 2 | 2 | 1.00 s | 1.50 s | 2,400 | 1,500 | 800 | ≥ 2/2 caught within 5 s: met |" in text
    assert "| vma-nogapcheck | 2 | 1 | 1 | 500 ms | 500 ms | 2,400 | 1,500 | 800 | ≥ 2/2 caught within 5 s: MISSED |" in text
    assert "| mmap | 2 | 0 | 0 | – | – | 2,400 | 1,500 | 800 | 2/2 pass: met |" in text
    assert "2 runs per mode, `DURATION` 5 s, tests: `split_maps`, `split_smaps`; 80 s in all; load average 0.30" in text
    assert "2 busy processes" in text and "load average 4.10" in text


def test_a_race_target_that_counts_no_runs_is_missed_without_a_factor() -> None:
    latency_run, read_run, idle, _ = summaries()
    text = render(latency_run, read_run, idle, race_summary(True, 0, 0), TEMPLATE.read_text())
    assert "caught within 5 s in ≥ 2 of 2 runs, CPU hog (targets table; `scripts/race-rate --hog`, runs failed " \
           "within DURATION, `vma-nogapcheck_caught_runs`): measured 0, short of the limit of 2." in text


def test_a_race_run_without_a_mode_the_targets_need_is_refused() -> None:
    latency_run, read_run, idle, hog = summaries()
    del hog["targets"]["mmap_passed_runs"]
    with pytest.raises(ValueError, match="race_hog JSON has no target 'mmap_passed_runs'"):
        render(latency_run, read_run, idle, hog, TEMPLATE.read_text())


def test_swapped_race_runs_are_refused() -> None:
    latency_run, read_run, idle, hog = summaries()
    with pytest.raises(ValueError, match="--hog"):
        render(latency_run, read_run, hog, idle, TEMPLATE.read_text())


def test_the_prose_quotes_the_tables() -> None:
    text = " ".join(render(*summaries(), TEMPLATE.read_text()).split())  # unwrapped
    assert "**Median (mean latency), N=2: 0.30 (190 µs vs 640 µs). Met.**" in text
    assert "| 65,524 | 3,211,784 | 590 ms | 16.8 ms | 92.5 ms | 246 ms | 35.0 | 6.4 |" in text
    assert "the mount takes 590 ms" in text
    assert "**401 bytes per VMA**" in text
    assert text.count("| mode | N | runs |") == 1 and text.count("| lines | bytes |") == 1
    assert " us " not in text and " us)" not in text


def test_bench_report_writes_the_document(tmp_path: Path) -> None:
    names = ("latency.json", "read.json", "race-idle.json", "race-hog.json")
    for name, summary in zip(names, summaries()):
        (tmp_path / name).write_text(json.dumps(summary))
    out, png = tmp_path / "benchmarks.md", tmp_path / "plot.png"
    result = subprocess.run([str(REPO / "scripts/bench-report"), *names, "--out", str(out),
                             "--plot", str(png)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == render(*summaries(), TEMPLATE.read_text())
    assert png.read_bytes().startswith(b"\x89PNG")


def test_the_committed_page_is_the_committed_runs() -> None:
    """docs/benchmarks.md is regenerated whenever the template or the runs change (scripts/bench-report)."""
    docs = REPO / "docs"
    names = ("benchmarks-latency.json", "benchmarks-read.json", "benchmarks-race-idle.json", "benchmarks-race-hog.json")
    runs = [json.loads((docs / name).read_text()) for name in names]
    assert (docs / "benchmarks.md").read_text() == render(*runs, TEMPLATE.read_text()), (
        f"docs/benchmarks.md is stale: scripts/bench-report {' '.join(f'docs/{name}' for name in names)}")
