"""What both benchmarks share: teardown that always runs, and the figures' arithmetic.

Daemons come from :mod:`fakeproc.lab.daemon` and every other child from its
``spawn``, all in sessions of their own and with a parent-death signal.  Each is registered
with a :class:`Cleanup` that ends it (by its own pid or process group, never
by name) and, for a daemon, unmounts it, on success, on an error, on Ctrl-C,
and on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def end_group(process: subprocess.Popen[bytes], first: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    """End ``process`` and its process group (it leads one: see :func:`fakeproc.lab.daemon.spawn`)."""
    if process.poll() is None or group_members(process.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, first)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    # A loop's child (cat) may outlive the shell by a moment; zombies waiting for init do not count.
    deadline = time.monotonic() + timeout
    killed = False
    while members := group_members(process.pid):
        if time.monotonic() > deadline:
            if killed:
                print(f"bench: process group {process.pid} would not die: {members}", file=sys.stderr)
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + timeout
        time.sleep(0.005)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from /proc."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, pgrp.
        if int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(int(name))
    return members


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: unwind through every ``finally``."""


class Cleanup(contextlib.ExitStack):
    """An ExitStack that also turns SIGTERM/SIGHUP into an exception, so teardown always runs."""

    def __enter__(self) -> Cleanup:
        super().__enter__()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.signal(signum, self._on_signal)
            self.callback(signal.signal, signum, previous)
        return self

    @staticmethod
    def _on_signal(signum: int, _frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    def workdir(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=prefix))
        self.callback(shutil.rmtree, path, True)
        return path


def find_comm(mnt: Path, comm: str) -> int:
    """The pid of the simulated process called ``comm`` (by listing the mount)."""
    for name in sorted(os.listdir(mnt)):
        if name.isdigit() and (mnt / name / "comm").read_text().strip() == comm:
            return int(name)
    raise LookupError(f"no process with comm {comm!r} under {mnt}")


def vm_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise LookupError(f"no VmRSS in /proc/{pid}/status")


def time_read(path: str | Path, buffer_size: int = 128 * 1024) -> tuple[float, int]:
    """What ``cat PATH >/dev/null`` does, timed in-process: open, read 128 KiB at a time, close."""
    began = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    total = 0
    try:
        while True:
            chunk = os.read(fd, buffer_size)
            if not chunk:
                break
            total += len(chunk)
    finally:
        os.close(fd)
    return time.perf_counter() - began, total


def best_of(runs: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(max(1, runs)))


def ensure_matplotlib() -> object | None:
    """matplotlib.pyplot, installing the ``bench`` extra into this venv if it is missing."""
    try:
        import matplotlib
    except ImportError:
        print("bench: matplotlib is missing; installing the bench extra: pip install -e '.[bench]'", file=sys.stderr)
        result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{REPO}[bench]"], check=False)
        if result.returncode != 0:
            print("bench: could not install matplotlib; no plot", file=sys.stderr)
            return None
        try:
            import matplotlib
        except ImportError:
            return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of log(y) against log(x); None with fewer than two points."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(p[0] for p in points)
    mean_y = statistics.fmean(p[1] for p in points)
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    if sxx == 0:
        return None
    return sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / sxx


def target(value: float | None, limit: float, at_most: bool = True) -> dict[str, object]:
    """A figure against its target, for the JSON summary."""
    met = None if value is None else (value <= limit if at_most else value >= limit)
    return {"value": value, "target": f"{'<=' if at_most else '>='} {limit:g}", "met": met}


def dump_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def scheduling_noise(seconds: float = 0.5) -> dict[str, float]:
    """How long this machine takes a running process away: a busy loop's longest gap.

    A benchmark's opmax cannot be smaller than this; on a busy machine it is
    milliseconds.
    """
    began = last = time.perf_counter_ns()
    end = began + int(seconds * 1e9)
    longest = 0
    over_1ms = 0
    while last < end:
        now = time.perf_counter_ns()
        gap = now - last
        if gap > 1_000_000:
            over_1ms += 1
        if gap > longest:
            longest = gap
        last = now
    return {"seconds": seconds, "longest_gap_us": round(longest / 1e3, 1), "gaps_over_1ms_per_s": round(over_1ms / seconds, 1)}


def machine() -> dict[str, object]:
    """Context worth keeping with any figure."""
    return {
        "cpus": os.cpu_count(),
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
        "loadavg": os.getloadavg()[0],
    }


def run_guarded(prog: str, body: Callable[[], None]) -> int | None:
    """Run ``body``; on Ctrl-C, SIGTERM/SIGHUP or a failure say so and return an exit status.

    Returns None when ``body`` finished.  Every child is torn down by the
    ``Cleanup`` contexts inside ``body`` before this reports.
    """
    try:
        body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; everything was torn down", file=sys.stderr)
        return 130
    except Interrupted as signal_name:
        print(f"{prog}: {signal_name}; everything was torn down", file=sys.stderr)
        return 143
    except (RuntimeError, OSError, LookupError, subprocess.SubprocessError) as error:
        print(f"{prog}: {error} (everything was torn down)", file=sys.stderr)
        return 1
    return None
