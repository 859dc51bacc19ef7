"""Talking to a mounted fakeproc from outside: one ctl round trip.

A ctl file is a conversation on one open file description: commands go in
with ``write(2)``, their result lines come back from ``read(2)`` on the same
descriptor.  A command that fails makes the write fail with the syscall's
errno, and the daemon still queues an ``error: ENAME ...`` line explaining
why; :class:`CtlRejected` carries both.  The CLI, the test fixtures and the
benchmarks all go through :func:`round_trip`, so they agree on that protocol.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

#: One read returns every queued result line; no round trip here queues more than this.
READ_SIZE = 1 << 20


class CtlRejected(OSError):
    """The daemon refused a command: ``errno`` is the syscall's, ``result`` the daemon's explanation."""

    def __init__(self, errno: int, strerror: str, result: str) -> None:
        super().__init__(errno, strerror)
        self.result = result


def ctl_path(mountpoint: str | os.PathLike[str], pid: int | str | None) -> str:
    """The root ctl file when ``pid`` is None, else that process's ctl file."""
    root = os.fspath(mountpoint)
    return os.path.join(root, "ctl") if pid is None else os.path.join(root, str(pid), "ctl")


def round_trip(path: str | os.PathLike[str], commands: Sequence[str]) -> str:
    """Write ``commands`` (one line each) in a single write and return the text one read gives back.

    Raises :class:`CtlRejected` when the daemon refuses a command, and a
    plain OSError when ``path`` cannot be opened or read.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            os.write(fd, "".join(command + "\n" for command in commands).encode())
        except OSError as error:
            try:
                result = os.read(fd, READ_SIZE).decode(errors="replace").strip()
            except OSError:
                result = ""
            raise CtlRejected(error.errno, error.strerror, result) from None
        return os.read(fd, READ_SIZE).decode(errors="replace")
    finally:
        os.close(fd)


def ctl(mountpoint: str | os.PathLike[str], pid: int | str | None, *commands: str) -> list[str]:
    """:func:`round_trip` on the root (``pid`` None) or a process's ctl file; the result lines."""
    return round_trip(ctl_path(mountpoint, pid), commands).splitlines()
