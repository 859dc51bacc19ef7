"""A real reader through FUSE against a toggling process: no false gap in vma mode."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fakeproc.lab.daemon import Mount

pytestmark = [pytest.mark.fuse, pytest.mark.slow]

READ_SECONDS = 3.0


def toggler_pid(mount: Mount) -> str:
    for name in os.listdir(mount.path):
        if name.isdigit() and (mount.path / name / "comm").read_text().startswith("toggler"):
            return name
    raise AssertionError("no toggler process")


def scan(mount: Mount, pid: str, seconds: float) -> tuple[int, list[str]]:
    """4096-byte os.read loops for ``seconds``; returns (reads, problems)."""
    problems: list[str] = []
    reads = 0
    deadline = time.monotonic() + seconds
    path = mount.path / pid / "maps"
    while time.monotonic() < deadline:
        fd = os.open(path, os.O_RDONLY)
        try:
            lines: list[str] = []
            while page := os.read(fd, 4096):
                if len(page) > 4096 or not page.endswith(b"\n"):
                    problems.append(f"page of {len(page)} bytes not whole lines")
                lines += page.decode().splitlines()
        finally:
            os.close(fd)
        reads += 1
        ranges = [tuple(int(part, 16) for part in line.split()[0].split("-")) for line in lines[:-1]]
        for (start, end), (next_start, next_end) in zip(ranges, ranges[1:]):
            if next_end <= end:
                problems.append(f"vm_end went backwards at {next_start:#x}")
            elif next_start > end:
                # The 129 toggled mappings are packed: any hole between two of them is false.
                problems.append(f"false gap {end:#x}-{next_start:#x}")
    return reads, problems


@pytest.mark.parametrize("mode, expect_clean", [("vma", True), ("vma-nogapcheck", False)])
def test_reader_through_fuse(mount_factory, tmp_path: Path, mode: str, expect_clean: bool) -> None:  # type: ignore[no-untyped-def]
    stats_file = tmp_path / f"stats-{mode}.json"
    with mount_factory("--population", "empty", "--workload", "toggler:split", "--lock-mode", mode,
                       "--stats-file", str(stats_file)) as mount:
        pid = toggler_pid(mount)
        reads, problems = scan(mount, pid, READ_SECONDS)
    stats = json.loads(stats_file.read_text())["processes"][pid]
    assert reads > 10
    if expect_clean:
        assert problems == [], problems[:5]
        assert stats["pages_with_writer_inside"] > 0, stats
    else:
        assert any(problem.startswith("false gap") for problem in problems), f"{reads} reads, none torn"
