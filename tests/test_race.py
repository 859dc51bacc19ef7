"""The C race test (proc-maps-race method) against a live mount, and its negative control."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from fakeproc.lab.daemon import Mount, mounted
from mountutil import REPO

pytestmark = [pytest.mark.fuse, pytest.mark.slow]

RACE = REPO / "scripts" / "race.sh"


def race(mount: Mount, mode: str, duration: int, *tests: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DURATION=str(duration), LOCK_MODE=mode, BUILD_DIR=str(mount.path.parent / "build"))
    return subprocess.run([str(RACE), str(mount.path), *tests], env=env, capture_output=True, text=True,
                          timeout=120 + 12 * duration)


@pytest.fixture(scope="module")
def race_mount(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with mounted(tmp_path_factory.mktemp("race"), "--population", "empty") as mount:
        yield mount


@pytest.mark.parametrize("mode", ["vma", "mmap"])
def test_every_test_passes_in_correct_modes(race_mount: Mount, mode: str) -> None:
    result = race(race_mount, mode, 2)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^6 passed, 0 failed$", result.stdout, re.M), result.stdout
    reads = [float(rate) for rate in re.findall(r"boundary reads, ([0-9.]+)/s", result.stdout)]
    assert len(reads) == 6 and all(rate > 0 for rate in reads), result.stdout
    assert os.listdir(race_mount.path) == ["ctl"], "the race test left a simulated process behind"


@pytest.mark.parametrize("mode", ["vma-nogapcheck", "nolock"])
def test_broken_modes_fail_nine_times_in_ten(race_mount: Mount, mode: str) -> None:
    failures = 0
    for _ in range(10):
        result = race(race_mount, mode, 5, "split_maps", "remap_maps")
        failures += result.returncode != 0 and "not ok" in result.stdout
    assert failures >= 9, f"{mode} caught in only {failures} of 10 runs"
