"""The benchmark scripts still run and still report every field (no timed assertions)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mountutil import REPO, require_fuse

pytestmark = [pytest.mark.fuse, pytest.mark.slow]


def _run(argv: list[str], tmp_path: Path) -> dict:  # type: ignore[type-arg]
    """Run a benchmark with its work directories (and so its mounts) under ``tmp_path``."""
    require_fuse()
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(work)}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    with open("/proc/mounts") as mounts:
        assert not [line for line in mounts if line.split()[1].startswith(str(work))], "a mount was left behind"
    assert not list(work.iterdir()), "a work directory was left behind"
    return json.loads(result.stdout)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc for the many_vmas helper")
def test_bench_read_reports_every_field(tmp_path: Path) -> None:
    summary = _run([str(REPO / "scripts/bench-read"), "--sizes", "1000", "--runs", "1", "--model-ops", "500",
                    "--build", str(tmp_path / "build"), "--json"], tmp_path)
    [row] = summary["sizes"]
    for field in ("vmas", "bytes", "mount_s", "kernel_s", "floor_s", "inprocess_s", "mount_over_kernel", "mount_over_floor"):
        assert row[field] > 0, field
    assert row["vmas"] > 1000 and row["identical"] is True
    assert "exponent" in summary
    assert summary["rss"]["vmas"] == row["vmas"] and "bytes_per_vma" in summary["rss"]
    assert summary["model"][0]["ops"] == 500 and summary["model"][0]["ops_per_s"] > 0
    cache = summary["page_cache"]
    assert cache["uncached_us_per_page"] > 0 and cache["cached_us_per_page"] > 0 and cache["hits"] > 0
    assert set(summary["targets"]) == {
        "cat_largest_over_kernel", "cat_largest_over_floor", "scaling_exponent", "model_ops_per_s", "bytes_per_vma",
    }


def test_bench_latency_reports_every_field(tmp_path: Path) -> None:
    summary = _run([str(REPO / "scripts/bench-latency"), "--duration", "0.3", "--nsamples", "1", "--scanners", "0,2",
                    "--results", str(tmp_path / "results"), "--json"], tmp_path)
    assert {(row["mode"], row["scanners"]) for row in summary["table"]} == {
        ("mmap", 0), ("mmap", 2), ("vma", 0), ("vma", 2),
    }
    for row in summary["table"]:
        for key in ("opmax_us", "mean_us", "virtual_opmax_us", "virtual_mean_us"):
            assert set(row[key]) == {"median", "min", "max"} and row[key]["max"] > 0
    assert all(result["value"] is not None for result in summary["targets"].values())
    assert (tmp_path / "results" / "latency-runs.csv").exists()
    assert (tmp_path / "results" / "latency-summary.csv").exists()


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker``: whatever a script started and left running."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                if marker.encode() in environ.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc for the C race test")
def test_race_rate_reports_every_field_and_leaves_nothing_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"RACE_RATE_SMOKE={tmp_path}"
    monkeypatch.setenv(*marker.split("=", 1))
    summary = _run([str(REPO / "scripts/race-rate"), "--runs", "1", "--duration", "0.5", "--tests", "split_maps",
                    "--modes", "vma-nogapcheck,vma", "--hog", "--json"], tmp_path)
    assert not _processes_with(marker), "a daemon, race test or hog outlived the script"
    assert [row["mode"] for row in summary["modes"]] == ["vma-nogapcheck", "vma"]
    for row in summary["modes"]:
        assert row["runs"] == 1 and 0 <= row["caught_runs"] <= row["failed_runs"] <= 1
        assert set(row["first_failure_s"]) == {"median", "max"}
        # A broken mode may fail on its first read: its rates may be 0, never missing.
        assert row["reads_per_s_median"] >= 0 and row["cycles_per_s_median"] >= 0
        # Every test run here reads maps, so the maps tests' median is the median of all.
        assert row["maps_reads_per_s_median"] == row["reads_per_s_median"]
        assert isinstance(row["met"], bool) and row["expectation"]
    assert [row["broken"] for row in summary["modes"]] == [True, False]
    assert summary["method"]["hog"] is True and summary["method"]["hogs"] >= 1
    assert summary["method"]["tests"] == ["split_maps"] and summary["method"]["duration_s"] == 0.5
    assert set(summary["targets"]) == {"vma-nogapcheck_caught_runs", "vma_passed_runs", "vma_maps_reads_per_s"}
    for result in summary["targets"].values():
        assert result["runs"] == 1 and result["duration_s"] == 0.5 and isinstance(result["met"], bool)
        assert result["target"].startswith(">= ")
    assert summary["machine"]["loadavg"] >= 0
    for run in summary["runs"]:
        assert list(run["reads_per_s"]) == list(run["cycles_per_s"]) == ["split_maps"]
        assert run["failed_tests"] == (["split_maps"] if run["exit_status"] else [])
