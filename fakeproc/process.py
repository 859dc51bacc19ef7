"""Simulated processes and the table that owns them."""

from __future__ import annotations

import errno
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from sortedcontainers import SortedDict

import trio

from .errors import SyscallError
from .mm.mm import Limits, MemoryManager
from .mm.vma import MappedFile
from .mm.walk import LockMode
from .sched import Preempter

FIRST_PID = 1000
#: The kernel's ceiling for ``kernel.pid_max`` on 64-bit: no real pid ever reaches it,
#: so a simulated pid from here up can never name (and let ``kill`` reach) a real process.
PID_MAX_LIMIT = 1 << 22


class Credentials(NamedTuple):
    """Who a process belongs to, or who asks for something: a uid and a gid."""

    uid: int
    gid: int

    @classmethod
    def of_daemon(cls) -> Credentials:
        """The daemon's own: the owner of what it starts by itself (the population, workloads)."""
        return cls(os.getuid(), os.getgid())


#: Live processes a table holds unless told otherwise, like the kernel's default pid_max.
DEFAULT_MAX_PROCESSES = 32768
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
    #: What /proc/<pid>/environ shows: a simulated process has no memory holding one.
    environ: dict[str, str] = field(default_factory=dict)
    #: CLOCK_BOOTTIME at spawn, in seconds: stat's starttime.
    started: float = field(default_factory=lambda: time.clock_gettime(time.CLOCK_BOOTTIME))
    #: Its open file descriptors (ctl ``open``/``close``).
    files: FileTable = field(default_factory=FileTable)
    #: The workload that drives this process (``toggler:split``), or None.
    workload: str | None = None
    #: That workload's pace in changes per second; None when it runs flat out.
    workload_rate: float | None = None
    #: Set when the process is killed, so that whatever runs it can stop at once.
    exited: trio.Event = field(default_factory=trio.Event, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.comm = self.comm[:15]
        if not self.cmdline:
            self.cmdline = [self.comm]

    def check_alive(self) -> None:
        """Raise ESRCH if the process has been killed (files opened on it stay open)."""
        if not self.alive:
            raise SyscallError(errno.ESRCH, f"process {self.pid} has exited")


#: Starts a workload in a new process: (spec, rate, comm, lock mode) -> the process.
#: ValueError for a spec that names no workload.
WorkloadStarter = Callable[[str, float | None, str | None, LockMode | None], Awaitable[Process]]


class ProcessTable:
    """All simulated processes of one daemon, sharing one Preempter (the machine)."""

    def __init__(self, preempter: Preempter | None = None, lock_mode: LockMode = LockMode.VMA,
                 first_pid: int = FIRST_PID, max_processes: int = DEFAULT_MAX_PROCESSES, limits: Limits = Limits()) -> None:
        self.preempter = preempter if preempter is not None else Preempter()
        self.default_lock_mode = lock_mode
        #: Live processes at most: a spawn past it fails with EAGAIN, as fork does at the kernel's limits.
        self.max_processes = max_processes
        #: The host settings every address space of this table answers by.
        self.limits = limits
        self._processes: SortedDict[int, Process] = SortedDict()
        self._pids = itertools.count(first_pid)
        #: Real callers whose /proc/self is a simulated process: real pid -> (its start time, simulated pid).
        self._self_views: dict[int, tuple[int, int]] = {}
        #: Set by the daemon, which owns the tasks workloads run in; None where nothing can run them.
        self.start_workload: WorkloadStarter | None = None

    def __iter__(self) -> Iterator[Process]:
        """Live processes by pid, as they are now: a kill meanwhile does not disturb it.  O(n)."""
        return iter(list(self._processes.values()))

    def after(self, pid: int) -> Iterator[Process]:
        """Live processes whose pid is above ``pid``, by pid.  O(log n) to start, O(1) per process."""
        processes = self._processes
        return (processes[key] for key in processes.irange(minimum=pid, inclusive=(False, True)))

    def __len__(self) -> int:
        return len(self._processes)

    @property
    def highest_pid(self) -> int:
        """The largest live pid, 0 with none.  O(n)."""
        return max(self._processes, default=0)

    def spawn(
        self,
        comm: str,
        lock_mode: LockMode | None = None,
        mmap_base: int | None = None,
        cmdline: list[str] | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> Process:
        """A new process with an empty address space whose maps readers lock as ``lock_mode`` says.

        It belongs to ``uid``/``gid``, by default to the daemon's.  O(log n).
        EAGAIN past :attr:`max_processes`.
        """
        if len(self._processes) >= self.max_processes:
            raise SyscallError(errno.EAGAIN, f"{len(self._processes)} processes: the limit is {self.max_processes}")
        daemon = Credentials.of_daemon()
        uid = daemon.uid if uid is None else uid
        gid = daemon.gid if gid is None else gid
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
        """Remove ``pid``; files already open on it then fail with ESRCH.  O(log n)."""
        process = self.get(pid)
        process.alive = False
        process.exited.set()
        del self._processes[pid]

    def claim_self(self, real_pid: int, real_start: int, pid: int) -> None:
        """Make ``pid`` the /proc/self of real process ``real_pid`` (started at ``real_start``) and its descendants.

        Claims of real processes that have since exited are dropped by
        :meth:`self_of`'s callers passing the start time, so a reused pid never
        inherits one.  O(1).
        """
        self.get(pid)
        self._self_views[real_pid] = (real_start, pid)

    def self_of(self, real_pid: int, real_start: int) -> Process | None:
        """The live simulated process claimed for ``real_pid`` if that claim was made for this very process.  O(1)."""
        claim = self._self_views.get(real_pid)
        if claim is None:
            return None
        start, pid = claim
        process = self._processes.get(pid)
        if start != real_start or process is None:
            del self._self_views[real_pid]
            return None
        return process

    @property
    def has_self_views(self) -> bool:
        return bool(self._self_views)
