"""The control files: lines written in are parsed into calls (:mod:`fakeproc.calls`) and applied.

Root commands (``<mnt>/ctl``) act on the process table; per-process commands
(``<mnt>/<pid>/ctl``) on that process.  Every failure is a
:class:`SyscallError` carrying the errno the real syscall gives; a malformed
line is EINVAL.  Nothing here knows about FUSE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic

from .calls import PROCESS_CALLS, ROOT_CALLS, Registry, Target, invalid
from .errors import SyscallError
from .process import Credentials, Process, ProcessTable
from .procfs.maps import encode

#: Longest command line accepted; longer ones are EINVAL, like an oversized argument.
MAX_LINE = 4096


def _always_ready() -> None:
    """The root ctl has no target that can go away."""


class ControlSession(Generic[Target]):
    """One open ctl file: commands written in, one result line each read out."""

    def __init__(self, calls: Registry[Target], target: Target, check_target: Callable[[], None] = _always_ready,
                 opener: Credentials | None = None) -> None:
        self.calls = calls
        self.target = target
        #: Raises (ESRCH) once the target is gone: checked before each write.
        self.check_target = check_target
        #: Whoever opened the file, as the kernel keeps f_cred: the commands act for them (None: the daemon).
        self.opener = opener
        self.results = bytearray()

    async def write(self, data: bytes) -> int:
        """Run every line of ``data`` in order, stopping at the first failure.

        Returns ``len(data)``; raises the failing command's SyscallError after
        recording its ``error:`` line.
        """
        self.check_target()
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                result = await self.run_raw(raw)
            except SyscallError as error:
                self.results += encode(error.result_line() + "\n")
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
        return await self.calls.run(self.target, line, self.opener)

    def read(self, size: int) -> bytes:
        """Take up to ``size`` bytes of pending results (empty when none)."""
        taken = bytes(self.results[:size])
        del self.results[:size]
        return taken


def process_session(process: Process) -> ControlSession[Process]:
    """``<mnt>/<pid>/ctl`` opened: writes fail with ESRCH once the process is killed."""
    return ControlSession(PROCESS_CALLS, process, process.check_alive)


def root_session(table: ProcessTable, opener: Credentials | None = None) -> ControlSession[ProcessTable]:
    """``<mnt>/ctl`` opened by ``opener``, who then owns the processes it spawns."""
    return ControlSession(ROOT_CALLS, table, opener=opener)
