"""The one error type of the model: a failed simulated syscall, with its errno."""

from __future__ import annotations

import errno
import os


#: Where Python's errno table names an errno by an alias, the name Linux's errno.h and strace use.
_KERNEL_NAMES = {errno.EOPNOTSUPP: "EOPNOTSUPP"}


class SyscallError(OSError):
    """A simulated syscall failed.  ``errno`` is what the real syscall would return."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)

    @property
    def errno_name(self) -> str:
        code = self.errno or 0
        return _KERNEL_NAMES.get(code) or errno.errorcode.get(code, "EIO")

    def result_line(self) -> str:
        """The ctl result line: ``error: ENAME message``."""
        return f"error: {self.errno_name} {self.strerror or os.strerror(self.errno or 0)}"
