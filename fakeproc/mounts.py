"""Mount-table helpers shared by the daemon, the benchmarks and the tests."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path


#: How /proc/mounts escapes the characters that would break its columns.
_MOUNTS_ESCAPE = re.compile(r"\\([0-7]{3})")


def mount_type(path: Path | str) -> str | None:
    """The file-system type mounted on ``path`` last (``fuse.fakeproc``, ``tmpfs``...), or None.

    Reads /proc/mounts rather than comparing devices, so that a bind mount of a
    directory onto itself counts too.  O(mounts).
    """
    target = str(path)
    found = None
    with open("/proc/mounts", errors="surrogateescape") as mounts:
        for line in mounts:
            fields = line.split()
            if _MOUNTS_ESCAPE.sub(lambda escape: chr(int(escape.group(1), 8)), fields[1]) == target:
                found = fields[2]
    return found


def is_mounted(path: Path | str) -> bool:
    """True if ``path`` is a mountpoint in /proc/mounts.  O(mounts)."""
    return mount_type(path) is not None


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
