"""Mount-table helpers shared by the daemon, the benchmarks and the tests."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path


def is_mounted(path: Path | str) -> bool:
    """True if ``path`` is a mountpoint in /proc/mounts.  O(mounts)."""
    target = str(path)
    with open("/proc/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


def unmount(path: Path | str) -> None:
    """Lazily unmount a FUSE mount at ``path`` if there is one."""
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False, capture_output=True)


def is_stale_mount(path: Path | str) -> bool:
    """True if ``path`` is a FUSE mount whose daemon is gone (ENOTCONN)."""
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ENOTCONN
    return False


def clear_stale_mount(path: Path | str) -> bool:
    """Unmount a dead FUSE mount at ``path``; True if one was cleared."""
    if not is_stale_mount(path):
        return False
    subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False, capture_output=True)
    return True
