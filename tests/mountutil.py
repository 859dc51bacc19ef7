"""Start a real fakeproc daemon on a real FUSE mount, and always tear it down."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fakeproc.mounts import unmount

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0


@dataclass
class Mount:
    path: Path
    process: subprocess.Popen[bytes]
    log: Path

    def ctl(self, pid: int | None, *commands: str) -> list[str]:
        """Write commands to a ctl file and return the result lines (raises OSError on failure)."""
        path = self.path / "ctl" if pid is None else self.path / str(pid) / "ctl"
        fd = os.open(path, os.O_RDWR)
        try:
            os.write(fd, "".join(command + "\n" for command in commands).encode())
            return os.read(fd, 1 << 20).decode().splitlines()
        finally:
            os.close(fd)


@contextmanager
def mounted(base: Path, *options: str) -> Iterator[Mount]:
    """Run ``mount.py`` on ``base/mnt`` until the context ends; unmounts even on failure."""
    mnt = base / "mnt"
    try:
        mnt.mkdir(exist_ok=True)
    except OSError as error:
        if error.errno != errno.ENOTCONN:  # a stale mount: the daemon must clear it
            raise
    ready = base / "ready"
    ready.unlink(missing_ok=True)
    log = base / "daemon.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "mount.py"), str(mnt), "--ready-file", str(ready), *options],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError(f"daemon exited with {process.returncode}: {log.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"daemon not ready after {READY_TIMEOUT}s: {log.read_text()}")
            time.sleep(0.02)
        yield Mount(mnt, process, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        unmount(mnt)
