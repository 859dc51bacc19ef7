"""What one big request costs the daemon: populating a large mapping, and listing many processes.

Prints, for each size, the seconds the request took and the daemon's RSS
growth; run it against two checkouts to compare them (``PYTHONPATH=CHECKOUT``
makes the daemon and this script come from there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from ..lab.daemon import Mount, mounted

GIB = 1 << 30


def daemon_rss_kb(mount: Mount) -> int:
    for line in Path(f"/proc/{mount.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("the daemon has no VmRSS")


def timed_ctl(mount: Mount, pid: int | None, command: str) -> tuple[float, int, str]:
    """(seconds, daemon RSS growth in kB, result) of one command."""
    before = daemon_rss_kb(mount)
    started = time.perf_counter()
    result = mount.ctl(pid, command)[0]
    return time.perf_counter() - started, daemon_rss_kb(mount) - before, result


def populate(mount: Mount, gib: int) -> dict[str, float]:
    pid = int(mount.ctl(None, "spawn big")[0])
    seconds, grown_kb, _ = timed_ctl(mount, pid, f"mmap 0 {gib * GIB:#x} rw- private,anonymous,populate")
    mount.ctl(None, f"kill {pid}")
    return {"gib": gib, "seconds": round(seconds, 3), "rss_growth_mb": round(grown_kb / 1024, 1)}


def listing(mount: Mount, processes: int) -> dict[str, float]:
    live = len(os.listdir(mount.path)) - 1
    with open(mount.path / "ctl", "wb", buffering=0) as ctl:
        ctl.write(b"spawn p\n" * (processes - live))
    started = time.perf_counter()
    names = subprocess.run(["ls", str(mount.path)], capture_output=True, check=True, timeout=600).stdout.split()
    seconds = time.perf_counter() - started
    assert len(names) == processes + 1, len(names)
    return {"processes": processes, "ls_seconds": round(seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--populate-gib", default="1,4,16", help="sizes to populate, in GiB (default 1,4,16)")
    parser.add_argument("--processes", default="10000,40000", help="process counts to list (default 10000,40000)")
    parser.add_argument("--max-processes", help="passed to the daemon (a checkout without the option takes none)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures: dict[str, list[dict[str, float]]] = {"populate": [], "ls": []}
    with tempfile.TemporaryDirectory(prefix="fakeproc-limits-") as base:
        limit = ("--max-processes", args.max_processes) if args.max_processes else ()
        with mounted(Path(base), "--population", "empty", *limit, own_session=True) as mount:
            for gib in map(int, args.populate_gib.split(",")):
                figures["populate"].append(populate(mount, gib))
            for count in sorted(map(int, args.processes.split(","))):
                figures["ls"].append(listing(mount, count))
    if args.json:
        print(json.dumps(figures))
        return
    for row in figures["populate"]:
        print(f"populate {row['gib']:>3} GiB: {row['seconds']:8.3f} s, daemon RSS +{row['rss_growth_mb']} MB")
    for row in figures["ls"]:
        print(f"ls of {row['processes']:>6} processes: {row['ls_seconds']:8.3f} s")


if __name__ == "__main__":
    main()
