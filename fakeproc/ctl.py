"""The control files: lines written in are parsed into calls (:mod:`fakeproc.calls`) and applied.

Root commands (``<mnt>/ctl``) act on the process table; per-process commands
(``<mnt>/<pid>/ctl``) on that process.  Every failure is a
:class:`SyscallError` carrying the errno the real syscall gives; a malformed
line is EINVAL.  Nothing here knows about FUSE.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Generic

from .calls import PROCESS_CALLS, ROOT_CALLS, Registry, Target, invalid
from .errors import SyscallError
from .process import Credentials, Process, ProcessTable
from .procfs.maps import encode

#: Longest command line accepted; longer ones are EINVAL, like an oversized argument.
MAX_LINE = 4096
#: Unread result bytes one open ctl file holds; past it a write fails with ENOBUFS until they are read.
MAX_QUEUED_RESULTS = 1 << 20
#: How much of a failed line the daemon's log repeats.
LOGGED_LINE = 200

log = logging.getLogger("fakeproc.ctl")


def _always_ready() -> None:
    """The root ctl has no target that can go away."""


class ControlSession(Generic[Target]):
    """One open ctl file: commands written in, one result line each read out.

    A command runs once its newline has arrived: the text after a write's
    last newline waits for the next write.  Results wait for a read, up to
    :data:`MAX_QUEUED_RESULTS` bytes; a write-only open keeps none, since
    nothing can read them.
    """

    def __init__(self, calls: Registry[Target], target: Target, check_target: Callable[[], None] = _always_ready,
                 opener: Credentials | None = None, keep_results: bool = True, where: str = "ctl") -> None:
        self.calls = calls
        self.target = target
        #: The file, as the daemon's log names it: ``ctl`` or ``<pid>/ctl``.
        self.where = where
        #: Raises (ESRCH) once the target is gone: checked before each write.
        self.check_target = check_target
        #: Whoever opened the file, as the kernel keeps f_cred: the commands act for them (None: the daemon).
        self.opener = opener
        self.keep_results = keep_results
        self.results = bytearray()
        #: The start of a line whose newline has not arrived yet (at most MAX_LINE bytes).
        self.partial = bytearray()
        #: True while the rest of a refused line is still arriving: dropped up to its newline.
        self.discarding = False

    async def write(self, data: bytes) -> int:
        """Run every whole line of ``data`` in order, stopping at the first failure.  O(len(data)) plus the commands.

        Returns ``len(data)``; raises the failing command's SyscallError after
        recording its ``error:`` line and logging it: the writer's errno alone
        loses the reason when the file is closed unread (``echo ... > ctl``).
        A failure drops the rest of the write, including a line it leaves
        unfinished.
        """
        try:
            self.check_target()
        except SyscallError as error:
            self._log_failure(data.split(b"\n", 1)[0], error)
            raise
        *lines, tail = data.split(b"\n")
        if self.discarding and lines:
            self.discarding = False
            lines.pop(0)
        elif self.discarding:
            return len(data)
        if lines:
            lines[0] = bytes(self.partial) + lines[0]
            self.partial.clear()
        try:
            for raw in lines:
                if raw.strip():
                    await self._run_line(raw)
            if len(self.partial) + len(tail) > MAX_LINE:
                self.partial.clear()
                raise self._queue_error(invalid(f"command line longer than {MAX_LINE} bytes"))
        except SyscallError:
            self.partial.clear()
            self.discarding = bool(tail)
            raise
        self.partial += tail
        return len(data)

    async def _run_line(self, raw: bytes) -> None:
        if len(self.results) >= MAX_QUEUED_RESULTS:
            # Nothing is queued for this refusal: it is the queue that is full.
            raise SyscallError(errno.ENOBUFS, f"{len(self.results)} bytes of results are unread")
        try:
            result = await self.run_raw(raw)
        except SyscallError as error:
            self._log_failure(raw, error)
            raise self._queue_error(error) from None
        self._queue(result)

    def _queue_error(self, error: SyscallError) -> SyscallError:
        self._queue(error.result_line())
        return error

    def _queue(self, text: str) -> None:
        if self.keep_results:
            self.results += encode(text + "\n")

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

    def _log_failure(self, raw: bytes, error: SyscallError) -> None:
        """One line: the file, the command as written (shortened, escaped) and the error line."""
        shown = raw[:LOGGED_LINE].decode("utf-8", errors="backslashreplace")
        log.warning("%s: %r: %s", self.where, shown + ("..." if len(raw) > LOGGED_LINE else ""), error.result_line())

    def read(self, size: int) -> bytes:
        """Take up to ``size`` bytes of pending results (empty when none)."""
        taken = bytes(self.results[:size])
        del self.results[:size]
        return taken


def process_session(process: Process, keep_results: bool = True) -> ControlSession[Process]:
    """``<mnt>/<pid>/ctl`` opened: writes fail with ESRCH once the process is killed."""
    return ControlSession(PROCESS_CALLS, process, process.check_alive, keep_results=keep_results,
                          where=f"{process.pid}/ctl")


def root_session(table: ProcessTable, opener: Credentials | None = None,
                 keep_results: bool = True) -> ControlSession[ProcessTable]:
    """``<mnt>/ctl`` opened by ``opener``, who then owns the processes it spawns."""
    return ControlSession(ROOT_CALLS, table, opener=opener, keep_results=keep_results)
