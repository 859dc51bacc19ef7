"""Workloads on a real mount: the demo's gentle pair, and workloads started and stopped through ctl."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fakeproc.calls import ProcessSummary
from fakeproc.lab.daemon import Mount

pytestmark = pytest.mark.fuse

#: Long enough for a few changes at the demo's rates, even on a loaded machine.
CHANGE_TIMEOUT = 10.0


def read_until_changed(path: Path, timeout: float = CHANGE_TIMEOUT, interval: float = 0.2) -> tuple[str, str]:
    """The first read of ``path`` and the first later one that differs (the same twice if none does in time)."""
    first = path.read_text()
    deadline = time.monotonic() + timeout
    later = first
    while later == first and time.monotonic() < deadline:
        time.sleep(interval)
        later = path.read_text()
    return first, later


def test_the_demo_mount_changes_by_itself(demo_mount: Mount) -> None:
    comms = {pid: (demo_mount.path / str(pid) / "comm").read_text().strip() for pid in (1002, 1003)}
    assert comms == {1002: "mapper", 1003: "toggler-split"}
    for pid in (1002, 1003):
        first, later = read_until_changed(demo_mount.path / str(pid) / "maps")
        assert first != later, f"{pid}/maps did not change in {CHANGE_TIMEOUT:.0f} s"
    # The mapper's region stays small, so its whole maps is one read.
    assert len((demo_mount.path / "1002" / "maps").read_bytes()) < 4096


def test_a_workload_started_through_ctl_runs_until_killed(mount_factory: Callable[..., Mount], tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    mount = mount_factory("--population", "empty", "--stats-file", str(stats))
    # The pattern a script uses: the pid comes back on the same fd.
    script = f"""
set -e
exec 3<>"{mount.path}/ctl"
echo 'spawn churn workload=mapper:16 rate=20' >&3; read -r churn <&3
echo 'spawn workload=toggler:resize rate=5 lock=mmap' >&3; read -r toggler <&3
echo "$churn $toggler"
"""
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    churn, toggler = result.stdout.split()
    assert (mount.path / churn / "comm").read_text() == "churn\n"
    assert (mount.path / toggler / "comm").read_text() == "toggler-resize\n"
    summary = ProcessSummary.from_words(mount.ctl(toggler, "info")[0])
    assert (summary.lock, summary.workload, summary.rate) == ("mmap", "toggler:resize", 5.0)
    first, later = read_until_changed(mount.path / churn / "maps")
    assert first != later
    mount.ctl(None, f"kill {churn}")
    assert not (mount.path / churn).exists()
    assert mount.stop() == 0
    # A killed workload's task ends: only the other one is still running at unmount.
    assert [workload["name"] for workload in json.loads(stats.read_text())["workloads"]] == ["toggler-resize"]


def test_a_bad_workload_spawns_nothing(mount_factory: Callable[..., Mount]) -> None:
    mount = mount_factory("--population", "empty")
    for line, reason in [
        ("spawn workload=mapper:0", "a mapper region is 1 to 32768 pages, not 0"),
        ("spawn workload=toggler:twist", "workload 'toggler:twist' is not one of mapper[:PAGES], "
                                         "toggler:split|resize|remap, scenario:1..10"),
        ("spawn workload=scenario:3 rate=fast", "rate 'fast' must be a number of changes per second"),
    ]:
        with pytest.raises(OSError) as failure:
            mount.ctl(None, line)
        assert reason in str(getattr(failure.value, "result", "")), line
    assert sorted(path.name for path in mount.path.iterdir()) == ["ctl"]
    [pid] = mount.ctl(None, "spawn workload=scenario:3")
    assert pid == "1000"
