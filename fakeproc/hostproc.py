"""Facts about real processes, read from the host's /proc: who a FUSE caller is, and its ancestry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

HOST_PROC = "/proc"
#: Far deeper than any real process tree; a bound so a loop in a racing read cannot spin forever.
MAX_ANCESTRY = 512


@dataclass(frozen=True)
class RealTask:
    """A real thread: its tid, its process (tgid), that process's parent, and when it started."""

    tid: int
    tgid: int
    ppid: int
    #: stat's starttime in clock ticks: together with the pid, a process's identity across pid reuse.
    start: int


def real_task(tid: int) -> RealTask | None:
    """The real thread ``tid``, or None if it has exited (or is not visible from here).  Two small reads."""
    base = f"{HOST_PROC}/{tid}"
    try:
        with open(f"{base}/stat", "rb") as stat_file:
            stat = stat_file.read()
        with open(f"{base}/status", "rb") as status_file:
            status = status_file.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    values = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
    try:
        return RealTask(tid, int(values[b"Tgid"]), int(fields[1]), int(fields[19]))
    except (KeyError, IndexError, ValueError):
        return None


def ancestry(tid: int) -> Iterator[RealTask]:
    """The process of thread ``tid``, then its parent, grandparent ... up to init.  O(depth) reads.

    Stops early at a process that exited meanwhile.
    """
    task = real_task(tid)
    if task is not None and task.tgid != tid:
        task = real_task(task.tgid)
    for _ in range(MAX_ANCESTRY):
        if task is None:
            return
        yield task
        if task.ppid <= 0 or task.ppid == task.tgid:
            return
        task = real_task(task.ppid)
