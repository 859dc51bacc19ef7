"""Simulated processes and the table that owns them."""

from __future__ import annotations

import errno
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import SyscallError
from .mm.mm import Limits, MemoryManager
from .mm.vma import MappedFile
from .mm.walk import LockMode
from .sched import Preempter

FIRST_PID = 1000
#: RLIMIT_NOFILE's usual soft limit: descriptors go from 0 to one below it.
OPEN_FILES_LIMIT = 1024


class FileTable:
    """A process's open file descriptors (``files_struct``): numbers to open files.

    The table belongs to the process, not to its address space, as in Linux
    (threads may share one without the other): a mapping holds the open file
    itself, never its number, so it outlives ``close`` and a reused number
    is a new open file.  Descriptors 0-2 stand for the standard streams a
    process is born with, so the first open gets 3, like a fresh program's.
    """

    FIRST_FREE = 3

    def __init__(self, limit: int = OPEN_FILES_LIMIT) -> None:
        self.limit = limit
        self._files: dict[int, MappedFile] = {}

    def __len__(self) -> int:
        return len(self._files)

    def install(self, file: MappedFile) -> int:
        """The lowest free descriptor, now referring to ``file``; EMFILE at the limit.  O(n) for n open files."""
        fd = next(fd for fd in itertools.count(self.FIRST_FREE) if fd not in self._files)
        if fd >= self.limit:
            raise SyscallError(errno.EMFILE, f"all {self.limit} file descriptors are in use")
        self._files[fd] = file
        return fd

    def get(self, fd: int) -> MappedFile:
        """The open file of ``fd`` or SyscallError(EBADF).  O(1)."""
        file = self._files.get(fd)
        if file is None:
            raise SyscallError(errno.EBADF, f"fd {fd} is not open")
        return file

    def close(self, fd: int) -> None:
        """Forget ``fd``; its mappings stay.  EBADF if it is not open.  O(1)."""
        self.get(fd)
        del self._files[fd]


@dataclass
class Process:
    """One simulated process: identity, credentials and an address space."""

    pid: int
    comm: str
    mm: MemoryManager
    cmdline: list[str] = field(default_factory=list)
    ppid: int = 1
    uid: int = 0
    gid: int = 0
    threads: int = 1
    alive: bool = True
    #: False for a kernel thread: no address space, so maps is empty.
    has_mm: bool = True
    #: Its open file descriptors (ctl ``open``/``close``).
    files: FileTable = field(default_factory=FileTable)

    def __post_init__(self) -> None:
        self.comm = self.comm[:15]
        if not self.cmdline:
            self.cmdline = [self.comm]

    def check_alive(self) -> None:
        """Raise ESRCH if the process has been killed (files opened on it stay open)."""
        if not self.alive:
            raise SyscallError(errno.ESRCH, f"process {self.pid} has exited")


class ProcessTable:
    """All simulated processes of one daemon, sharing one Preempter (the machine)."""

    def __init__(
        self, preempter: Preempter | None = None, lock_mode: LockMode = LockMode.VMA, limits: Limits = Limits()
    ) -> None:
        self.preempter = preempter if preempter is not None else Preempter()
        self.default_lock_mode = lock_mode
        #: The host settings every address space of this table answers by.
        self.limits = limits
        self._processes: dict[int, Process] = {}
        self._pids = itertools.count(FIRST_PID)

    def __iter__(self) -> Iterator[Process]:
        return iter(sorted(self._processes.values(), key=lambda process: process.pid))

    def __len__(self) -> int:
        return len(self._processes)

    def spawn(
        self,
        comm: str,
        lock_mode: LockMode | None = None,
        mmap_base: int | None = None,
        cmdline: list[str] | None = None,
        uid: int = 0,
        gid: int = 0,
    ) -> Process:
        """A new process with an empty address space whose maps readers lock as ``lock_mode`` says.  O(1)."""
        pid = next(self._pids)
        mm = MemoryManager(self.preempter, reader_lock_mode=lock_mode or self.default_lock_mode, limits=self.limits)
        if mmap_base is not None:
            mm.mmap_base = mmap_base
        process = Process(pid, comm, mm, cmdline or [], uid=uid, gid=gid)
        self._processes[pid] = process
        return process

    def get(self, pid: int) -> Process:
        """The live process ``pid`` or SyscallError(ESRCH).  O(1)."""
        process = self._processes.get(pid)
        if process is None:
            raise SyscallError(errno.ESRCH, f"no process {pid}")
        return process

    def find(self, pid: int) -> Process | None:
        return self._processes.get(pid)

    def kill(self, pid: int) -> None:
        """Remove ``pid``; files already open on it then fail with ESRCH.  O(1)."""
        process = self.get(pid)
        process.alive = False
        del self._processes[pid]
