"""The soak test: many readers and a busy ctl writer against one mount for a while.

A mount runs ``mapper`` and ``toggler:split``.  N reader threads read their
``maps`` (and the writer's processes') in four ways in turn: ``cat``, ``dd
bs=1``, 4096-byte ``os.read`` pages and ``cat smaps``; every line is checked
for the kernel's format.  A writer spawns processes, maps, protects, touches,
unmaps and kills them through ctl.  It reports read errors, malformed lines,
the daemon's RSS and open fds at the start (before the load), the middle and
the end (after the load), and the slowest ``ls`` of the mount.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..lab.daemon import Mount, mounted

#: ``start-end perms offset dev inode `` and the padded name if any, as show_map_vma prints it.
MAPS_LINE = re.compile(rb"[0-9a-f]{8,16}-[0-9a-f]{8,16} [r-][w-][x-][ps] [0-9a-f]{8} [0-9a-f]{2,3}:[0-9a-f]{2,} \d+ ( *\S.*)?")
SMAPS_FIELD = re.compile(rb"[A-Z][A-Za-z_]*: .*")
GATE = b"[vsyscall]"
READ_TIMEOUT = 120.0


@dataclass
class Sample:
    """The daemon's footprint at one moment."""

    seconds: float
    rss_kib: int
    open_fds: int


@dataclass
class Figures:
    """What a soak run found."""

    duration: float
    readers: int
    reads: int = 0
    read_errors: int = 0
    malformed_lines: int = 0
    ctl_commands: int = 0
    ctl_errors: int = 0
    slowest_ls_seconds: float = 0.0
    samples: dict[str, Sample] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)


def footprint(pid: int, started: float) -> Sample:
    """VmRSS and the fd count of process ``pid``."""
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return Sample(round(time.monotonic() - started, 1), rss, len(os.listdir(f"/proc/{pid}/fd")))


def malformed(text: bytes, smaps: bool) -> int:
    """How many lines of a whole maps or smaps read break its format (a missing gate line counts as one)."""
    lines = text.split(b"\n")
    bad = int(lines.pop() != b"")
    bad += sum(1 for line in lines if not (MAPS_LINE.fullmatch(line) or smaps and SMAPS_FIELD.fullmatch(line)))
    if not any(line.endswith(GATE) for line in lines[-30:]):
        bad += 1
    return bad


def read_pages(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def run_tool(argv: list[str]) -> bytes:
    return subprocess.run(argv, check=True, capture_output=True, timeout=READ_TIMEOUT).stdout


@dataclass(frozen=True)
class Reader:
    """One way of reading: which file, how, and whether only small processes (one FUSE request per byte)."""

    file: str
    read: Callable[[Path], bytes]
    small_only: bool = False


READERS = [
    Reader("maps", lambda path: run_tool(["cat", str(path)])),
    Reader("maps", lambda path: run_tool(["dd", f"if={path}", "bs=1", "status=none"]), small_only=True),
    Reader("maps", read_pages),
    Reader("smaps", lambda path: run_tool(["cat", str(path)])),
]


class Soak:
    """One run: a mount, its readers, its writer and its monitor, all stopped by :meth:`run` before it returns."""

    def __init__(self, mount: Mount, figures: Figures) -> None:
        self.mount = mount
        self.figures = figures
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.workload_pids = sorted(int(name) for name in os.listdir(mount.path) if name.isdigit())
        #: The toggler's maps stays near 130 lines, small enough for byte-sized reads.
        self.small_pids = [pid for pid in self.workload_pids
                           if (mount.path / str(pid) / "comm").read_text().startswith("toggler")]
        #: Processes the writer spawned and has not killed yet: readers may lose them at any time.
        self.transient: list[int] = []

    def _error(self, what: str) -> None:
        with self.lock:
            self.figures.read_errors += 1
            if len(self.figures.first_errors) < 10:
                self.figures.first_errors.append(what)

    def reader(self, number: int) -> None:
        how = READERS[number % len(READERS)]
        # The mapper's maps grows past 100 KB: byte-sized reads stay on the toggler's.
        targets = self.small_pids if how.small_only else self.workload_pids
        turn = 0
        while not self.stop.is_set():
            turn += 1
            transient = self.transient[-1:] if turn % 5 == 0 else []
            pid = transient[0] if transient else targets[(number + turn) % len(targets)]
            path = self.mount.path / str(pid) / how.file
            try:
                text = how.read(path)
            except (OSError, subprocess.SubprocessError) as error:
                if pid in self.workload_pids:
                    self._error(f"{path}: {error}")
                continue
            bad = malformed(text, how.file == "smaps")
            with self.lock:
                self.figures.reads += 1
                self.figures.malformed_lines += bad

    def writer(self) -> None:
        """Spawn, map, split, fault in, unmap and kill, over and over; ctl refusals are counted apart."""
        turn = 0
        while not self.stop.is_set():
            turn += 1
            try:
                pid = int(self.mount.ctl(None, f"spawn soak{turn} layout={'demo' if turn % 2 else 'empty'}")[0])
                self.transient.append(pid)
                address = self.mount.ctl(pid, "mmap 0 0x40000 rw- private,anonymous")[0]
                start = int(address, 16)
                self.mount.ctl(pid, f"mprotect {start + 0x4000:#x} 0x4000 r--", f"touch {start:#x} 0x4000",
                               f"munmap {start + 0x10000:#x} 0x1000", f"query {start:#x}")
                time.sleep(0.05)
                self.transient.remove(pid)
                self.mount.ctl(None, f"kill {pid}")
                self.figures.ctl_commands += 9
            except OSError as error:
                self.figures.ctl_errors += 1
                self._error(f"ctl: {error}")

    def lister(self) -> None:
        while not self.stop.wait(0.2):
            started = time.monotonic()
            os.listdir(self.mount.path)
            self.figures.slowest_ls_seconds = max(self.figures.slowest_ls_seconds, time.monotonic() - started)

    def run(self) -> None:
        started = time.monotonic()
        self.figures.samples["start"] = footprint(self.mount.pid, started)
        threads = [threading.Thread(target=self.reader, args=(number,), daemon=True) for number in range(self.figures.readers)]
        threads += [threading.Thread(target=self.writer, daemon=True), threading.Thread(target=self.lister, daemon=True)]
        for thread in threads:
            thread.start()
        try:
            if not self.stop.wait(self.figures.duration / 2):
                self.figures.samples["middle"] = footprint(self.mount.pid, started)
            self.stop.wait(self.figures.duration / 2)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=READ_TIMEOUT)
        self.figures.samples["end"] = footprint(self.mount.pid, started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--readers", type=int, default=32, help="reader threads (default 32)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = Figures(args.duration, args.readers)
    with tempfile.TemporaryDirectory(prefix="fakeproc-soak-") as base:
        with mounted(Path(base), "--population", "empty", "--workload", "mapper", "--workload", "toggler:split",
                     own_session=True) as mount:
            Soak(mount, figures).run()
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
    else:
        print(f"{figures.readers} readers, {figures.duration:.0f} s: {figures.reads} whole reads, "
              f"{figures.read_errors} read errors, {figures.malformed_lines} malformed lines")
        print(f"ctl: {figures.ctl_commands} commands, {figures.ctl_errors} failed round trips; "
              f"slowest ls: {figures.slowest_ls_seconds * 1000:.0f} ms")
        for moment, sample in figures.samples.items():
            print(f"{moment:>6} ({sample.seconds:5.1f} s): RSS {sample.rss_kib / 1024:.1f} MiB, {sample.open_fds} open fds")
        for error in figures.first_errors:
            print(f"error: {error}")
    clean = figures.read_errors == 0 and figures.malformed_lines == 0
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
