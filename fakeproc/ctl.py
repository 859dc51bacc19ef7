"""The control files: lines written in are parsed into calls (:mod:`fakeproc.calls`) and applied.

Root commands (``<mnt>/ctl``) act on the process table; per-process commands
(``<mnt>/<pid>/ctl``) on that process.  Every failure is a
:class:`SyscallError` carrying the errno the real syscall gives; a malformed
line is EINVAL.  Nothing here knows about FUSE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic

from .calls import PROCESS_CALLS, ROOT_CALLS, Registry, Target, invalid
from .errors import SyscallError
from .process import Process, ProcessTable
from .procfs.maps import encode

#: Longest command line accepted; longer ones are EINVAL, like an oversized argument.
MAX_LINE = 4096
#: How much of a failed line the daemon's log repeats.
LOGGED_LINE = 200

log = logging.getLogger("fakeproc.ctl")


def _always_ready() -> None:
    """The root ctl has no target that can go away."""


class ControlSession(Generic[Target]):
    """One open ctl file: commands written in, one result line each read out."""

    def __init__(self, calls: Registry[Target], target: Target, check_target: Callable[[], None] = _always_ready,
                 where: str = "ctl") -> None:
        self.calls = calls
        self.target = target
        #: The file, as the daemon's log names it: ``ctl`` or ``<pid>/ctl``.
        self.where = where
        #: Raises (ESRCH) once the target is gone: checked before each write.
        self.check_target = check_target
        self.results = bytearray()

    async def write(self, data: bytes) -> int:
        """Run every line of ``data`` in order, stopping at the first failure.

        Returns ``len(data)``; raises the failing command's SyscallError after
        recording its ``error:`` line and logging it: the writer's errno alone
        loses the reason when the file is closed unread (``echo ... > ctl``).
        """
        try:
            self.check_target()
        except SyscallError as error:
            self._log_failure(data.split(b"\n", 1)[0], error)
            raise
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                result = await self.run_raw(raw)
            except SyscallError as error:
                self.results += encode(error.result_line() + "\n")
                self._log_failure(raw, error)
                raise
            self.results += encode(result + "\n")
        return len(data)

    async def run_raw(self, raw: bytes) -> str:
        """One line as written: checked for size and text, parsed, applied; its result's text."""
        if len(raw) > MAX_LINE:
            raise invalid(f"command line longer than {MAX_LINE} bytes")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid("command is not UTF-8 text") from None
        if any(char < " " and char != "\t" or char == "\x7f" for char in line):
            raise invalid("command holds control characters")
        return await self.calls.run(self.target, line)

    def _log_failure(self, raw: bytes, error: SyscallError) -> None:
        """One line: the file, the command as written (shortened, escaped) and the error line."""
        shown = raw[:LOGGED_LINE].decode("utf-8", errors="backslashreplace")
        log.warning("%s: %r: %s", self.where, shown + ("..." if len(raw) > LOGGED_LINE else ""), error.result_line())

    def read(self, size: int) -> bytes:
        """Take up to ``size`` bytes of pending results (empty when none)."""
        taken = bytes(self.results[:size])
        del self.results[:size]
        return taken


def process_session(process: Process) -> ControlSession[Process]:
    """``<mnt>/<pid>/ctl`` opened: writes fail with ESRCH once the process is killed."""
    return ControlSession(PROCESS_CALLS, process, process.check_alive, f"{process.pid}/ctl")


def root_session(table: ProcessTable) -> ControlSession[ProcessTable]:
    """``<mnt>/ctl`` opened."""
    return ControlSession(ROOT_CALLS, table)
