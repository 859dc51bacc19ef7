"""The one error type of the model: a failed simulated syscall, with its errno."""

from __future__ import annotations

import errno
import os


class SyscallError(OSError):
    """A simulated syscall failed.  ``errno`` is what the real syscall would return."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)

    @property
    def errno_name(self) -> str:
        return errno.errorcode.get(self.errno or 0, "EIO")

    def result_line(self) -> str:
        """The ctl result line: ``error: ENAME message``."""
        return f"error: {self.errno_name} {self.strerror or os.strerror(self.errno or 0)}"
