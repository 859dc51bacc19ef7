"""Simulated processes and the table that owns them."""

from __future__ import annotations

import errno
import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import trio

from .errors import SyscallError
from .mm.mm import MemoryManager
from .mm.walk import LockMode
from .sched import Preempter

FIRST_PID = 1000


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

    def __init__(self, preempter: Preempter | None = None, lock_mode: LockMode = LockMode.VMA) -> None:
        self.preempter = preempter if preempter is not None else Preempter()
        self.default_lock_mode = lock_mode
        self._processes: dict[int, Process] = {}
        self._pids = itertools.count(FIRST_PID)
        #: Set by the daemon, which owns the tasks workloads run in; None where nothing can run them.
        self.start_workload: WorkloadStarter | None = None

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
        mm = MemoryManager(self.preempter, reader_lock_mode=lock_mode or self.default_lock_mode)
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
        process.exited.set()
        del self._processes[pid]
