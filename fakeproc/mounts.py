"""Mount-table helpers shared by the daemon, the benchmarks and the tests."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path


#: The fsname and type the daemon mounts with (fuse/server.py), as the mount table shows them.
FAKEPROC_FSNAME = "fakeproc"
FAKEPROC_TYPE = "fuse.fakeproc"


def _unescape(field: str) -> str:
    """A mount-table field as a path: the kernel writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def fakeproc_mounts(table: Path | str = "/proc/self/mounts") -> list[str]:
    """The mountpoints of live fakeproc mounts, in mount order; a dead daemon's mount is left out.  O(mounts)."""
    with open(table) as mounts:
        fields = [line.split() for line in mounts]
    found = [_unescape(entry[1]) for entry in fields
             if len(entry) > 2 and entry[0] == FAKEPROC_FSNAME and entry[2] == FAKEPROC_TYPE]
    return [path for path in found if not is_stale_mount(path)]


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
            if _unescape(fields[1]) == target:
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
