"""Every ctl command as a value: the one place the control vocabulary is written.

``mmap 0 0x1000 rw- private,anonymous`` is ``Mmap(0, 0x1000, READ|WRITE,
PRIVATE|ANONYMOUS)``.  A call type is one frozen dataclass registered in
:data:`PROCESS_CALLS` (the words ``<mnt>/<pid>/ctl`` accepts; applied to a
:class:`Process`) or :data:`ROOT_CALLS` (``<mnt>/ctl``; applied to the
:class:`ProcessTable`).  It knows its words both ways: ``parse`` builds it,
raising EINVAL with a readable message on anything malformed, and ``line``
writes it back.  ``apply`` runs it and returns the result line's text.

The ctl sessions, the CLI's subcommands and the workloads all go through
these classes, so a new command is one class here.
"""

from __future__ import annotations

import enum
import errno
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import trio

from .errors import SyscallError
from .hostproc import real_task
from .mm import syscalls
from .mm.query import QueryFlags, query
from .mm.syscalls import MapFlags, MremapFlags
from .mm.vma import FileKind, MappedFile, VmFlags, prot_from_text, prot_to_text
from .mm.walk import LockMode
from .population import LAYOUTS, clone_real_process
from .procfs.maps import format_maps_line
from .process import Credentials, Process, ProcessTable

Target = TypeVar("Target", Process, ProcessTable)
FlagType = TypeVar("FlagType", bound=enum.Flag)

_NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)")
_NAME = re.compile(r"[A-Za-z0-9_.:+-]{1,64}")
_MAX_ULONG = (1 << 64) - 1


# --------------------------------------------------------------------------
# words


def invalid(message: str) -> SyscallError:
    """The error for a malformed line: EINVAL, like a syscall given a bad argument."""
    return SyscallError(errno.EINVAL, message)


def check_arity(words: Sequence[str], low: int, high: int, usage: str) -> None:
    """EINVAL with the usage unless the command has ``low`` to ``high`` arguments."""
    if not low <= len(words) - 1 <= high:
        raise invalid(f"usage: {usage}")


def parse_number(text: str, what: str) -> int:
    """``0x`` hex or decimal, within an unsigned long."""
    if not _NUMBER.fullmatch(text):
        raise invalid(f"{what} must be 0x hex or decimal, not {text[:40]!r}")
    value = int(text, 0) if text.lower().startswith("0x") else int(text, 10)
    if value > _MAX_ULONG:
        raise invalid(f"{what} {text[:40]} does not fit in an unsigned long")
    return value


def parse_prot(text: str) -> VmFlags:
    try:
        return prot_from_text(text)
    except ValueError as error:
        raise invalid(str(error)) from None


class FlagWords(Generic[FlagType]):
    """A flag type written as comma-separated lower-case member names (``private,anonymous``)."""

    def __init__(self, flag_type: type[FlagType], none: str | None = None) -> None:
        self.flag_type = flag_type
        self.words = {flag.name.lower(): flag for flag in flag_type if flag.name and flag.value}
        #: The word (if any) that stands for no flags at all.
        self.none = none

    def parse(self, text: str) -> FlagType:
        if self.none is not None and text in (self.none, "0"):
            return self.flag_type(0)
        chosen = [word for word in text.split(",") if word]
        if not chosen or any(word not in self.words for word in chosen):
            raise invalid(f"FLAGS {text[:60]!r}: use comma-separated words from {', '.join(self.words)}")
        flags = self.flag_type(0)
        for word in chosen:
            flags |= self.words[word]
        return flags

    def text(self, flags: FlagType) -> str:
        names = [word for word, flag in self.words.items() if flag in flags]
        return ",".join(names) if names else self.none or ""


MAP_FLAGS = FlagWords(MapFlags)
MREMAP_FLAGS = FlagWords(MremapFlags, none="-")
QUERY_FLAGS = FlagWords(QueryFlags)


#: Seconds an mmap PATH may take to look up on the host (a hung network mount) before the command fails.
HOST_LOOKUP_TIMEOUT = 10.0


class HostFiles:
    """How an mmap PATH is looked up: on a worker thread, and never on the daemon's own mount.

    The lookup of a file inside the mount is a FUSE request to this very
    daemon: made from the event loop, it would wait on itself forever.  From
    a worker thread it is served, and such a file is then refused with
    ENODEV, as Linux refuses to map a /proc file.
    """

    #: ``st_dev`` of the daemon's own mount, once it is mounted.
    own_device: int | None = None


#: The ``/dev/zero`` device number (char major 1, minor 5).
_ZERO_DEVICE = os.makedev(1, 5)
#: Access words of ``open``: (readable, writable).
ACCESS_WORDS = {"r": (True, False), "w": (False, True), "rw": (True, True)}


def _file_kind(info: os.stat_result) -> FileKind:
    if stat.S_ISREG(info.st_mode):
        return FileKind.REGULAR
    if stat.S_ISCHR(info.st_mode) and info.st_rdev == _ZERO_DEVICE:
        return FileKind.ZERO
    return FileKind.UNMAPPABLE


def _host_file(path: str, readable: bool = True, writable: bool = False) -> MappedFile:
    """Open the host's ``path`` for a simulated process: a new open file, named by its resolved path.

    The one place a ctl command reaches the host's files (blocking: it
    resolves symlinks and ``..``, stats and checks access).  Errors are
    open(2)'s: ENOENT, ELOOP..., EISDIR for a directory opened for writing,
    EACCES where the daemon may not read or write it.  A regular file's size
    is taken now; a file that grows later is not seen.
    """
    try:
        real = os.path.realpath(path, strict=True)
        info = os.stat(real)
    except OSError as error:
        raise SyscallError(error.errno or errno.ENOENT, f"cannot open {path}: {error.strerror}") from None
    if writable and stat.S_ISDIR(info.st_mode):
        raise SyscallError(errno.EISDIR, f"cannot open {path} for writing: it is a directory")
    if not os.access(real, (os.R_OK if readable else 0) | (os.W_OK if writable else 0)):
        raise SyscallError(errno.EACCES, f"cannot open {path}: permission denied")
    kind = _file_kind(info)
    size = info.st_size if kind is FileKind.REGULAR else None
    return MappedFile(real, os.major(info.st_dev), os.minor(info.st_dev), info.st_ino, kind, size, readable, writable)


async def host_file(path: str, readable: bool = True, writable: bool = False) -> MappedFile:
    """:func:`_host_file` on a worker thread, so the daemon keeps serving while the host answers.

    ENODEV for a file of this mount; ETIMEDOUT when the host takes longer
    than :data:`HOST_LOOKUP_TIMEOUT` to answer (its worker thread is left to finish alone).
    """
    try:
        with trio.fail_after(HOST_LOOKUP_TIMEOUT):
            file = await trio.to_thread.run_sync(_host_file, path, readable, writable, abandon_on_cancel=True)
    except trio.TooSlowError:
        raise SyscallError(errno.ETIMEDOUT, f"cannot map {path}: no answer within {HOST_LOOKUP_TIMEOUT:g} s") from None
    if os.makedev(file.dev_major, file.dev_minor) == HostFiles.own_device:
        raise SyscallError(errno.ENODEV, f"cannot map {path}: a file of this fakeproc mount cannot be mapped")
    return file


# --------------------------------------------------------------------------
# call types and their registries


@dataclass(frozen=True)
class Argument:
    """One word a call takes, as the CLI offers it; optional ones may be left off from the end."""

    metavar: str
    help: str
    optional: bool = False


class Call(ABC, Generic[Target]):
    """One command line as a value.  Subclasses are frozen dataclasses whose fields are its arguments."""

    #: The command word.
    name: ClassVar[str]
    #: One line for help texts.
    summary: ClassVar[str]
    #: The line's shape, as the EINVAL for a wrong number of words shows it.
    usage: ClassVar[str]
    #: The words after the command word, for the CLI.
    arguments: ClassVar[tuple[Argument, ...]]
    #: True when success is always the result ``0``: the CLI then prints nothing, as shell tools do.
    status_only: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def parse(cls, words: Sequence[str]) -> Call[Target]:
        """The call ``words`` (the command word first) spell; SyscallError(EINVAL) if they spell none."""

    @abstractmethod
    def line(self) -> str:
        """The ctl line for this call: ``parse(call.line().split()) == call``."""

    @abstractmethod
    async def apply(self, target: Target) -> str:
        """Run the call; the text of its result line (an address, a pid, ``0``...)."""

    async def apply_as(self, target: Target, caller: Credentials | None) -> str:
        """Run the call for ``caller`` (None: the daemon itself); only a call that creates a process asks who."""
        return await self.apply(target)


CallType = TypeVar("CallType", bound="type[Call[Any]]")


class Registry(Generic[Target]):
    """The call types one ctl file accepts, by command word, in registration order."""

    def __init__(self) -> None:
        self._types: dict[str, type[Call[Target]]] = {}

    def register(self, call_type: CallType) -> CallType:
        """Class decorator: accept ``call_type``'s lines from now on."""
        if call_type.name in self._types:
            raise ValueError(f"a call named {call_type.name!r} is already registered")
        self._types[call_type.name] = call_type
        return call_type

    def unregister(self, name: str) -> None:
        del self._types[name]

    def __iter__(self) -> Iterator[type[Call[Target]]]:
        return iter(self._types.values())

    def parse(self, line: str) -> Call[Target]:
        """The call a command line spells.  O(words)."""
        words = line.split()
        if not words:
            raise invalid("empty command")
        call_type = self._types.get(words[0])
        if call_type is None:
            raise invalid(f"unknown command {words[0][:40]!r}; commands: {', '.join(self._types)}")
        return call_type.parse(words)

    async def run(self, target: Target, line: str, caller: Credentials | None = None) -> str:
        """Parse ``line`` and apply it to ``target`` for ``caller``; the result line's text."""
        return await self.parse(line).apply_as(target, caller)


#: Commands of ``<mnt>/<pid>/ctl``, applied to that process.
PROCESS_CALLS: Registry[Process] = Registry()
#: Commands of ``<mnt>/ctl``, applied to the process table.
ROOT_CALLS: Registry[ProcessTable] = Registry()

_ADDR = Argument("ADDR", "start address")
_LEN = Argument("LEN", "bytes")


def _one_number(words: Sequence[str], usage: str, what: str) -> int:
    check_arity(words, 1, 1, usage)
    return parse_number(words[1], what)


def _address_and_length(words: Sequence[str], usage: str) -> tuple[int, int]:
    check_arity(words, 2, 2, usage)
    return parse_number(words[1], "ADDR"), parse_number(words[2], "LEN")


# -- per-process calls ------------------------------------------------------


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Mmap(Call[Process]):
    name = "mmap"
    summary = "map memory; prints the address"
    usage = "mmap ADDR LEN PROT FLAGS [fd=N|PATH [OFFSET]]"
    arguments = (
        Argument("ADDR", "0 lets the kernel choose"),
        _LEN,
        Argument("PROT", "like rw- or r-x"),
        Argument("FLAGS", f"comma-separated: {','.join(MAP_FLAGS.words)}"),
        Argument("FILE", "fd=N (a descriptor from open) or a PATH opened for this mmap only", optional=True),
        Argument("OFFSET", "where in the file the mapping starts (default 0)", optional=True),
    )

    addr: int
    length: int
    prot: VmFlags
    flags: MapFlags
    path: str | None = None
    offset: int = 0
    fd: int | None = None

    @classmethod
    def parse(cls, words: Sequence[str]) -> Mmap:
        check_arity(words, 4, 6, cls.usage)
        addr = parse_number(words[1], "ADDR")
        length = parse_number(words[2], "LEN")
        prot = parse_prot(words[3])
        flags = MAP_FLAGS.parse(words[4])
        if len(words) == 5:
            return cls(addr, length, prot, flags)
        offset = parse_number(words[6], "OFFSET") if len(words) == 7 else 0
        # Like mmap(2), anonymous memory ignores the file (not a bad offset), though a PATH is still opened.
        if words[5].startswith("fd="):
            return cls(addr, length, prot, flags, None, offset, parse_number(words[5][3:], "fd"))
        return cls(addr, length, prot, flags, words[5], offset)

    def line(self) -> str:
        if self.fd is not None:
            file = f" fd={self.fd} {self.offset:#x}"
        else:
            file = "" if self.path is None else f" {self.path} {self.offset:#x}"
        return f"mmap {self.addr:#x} {self.length:#x} {prot_to_text(self.prot)} {MAP_FLAGS.text(self.flags)}{file}"

    async def apply(self, process: Process) -> str:
        """Map; a PATH is opened for this mmap alone, read-write only for a shared writable mapping."""
        file = None
        if self.path is not None:
            file = await host_file(self.path, writable=bool(self.flags & MapFlags.SHARED and self.prot & VmFlags.WRITE))
        elif self.fd is not None and not self.flags & MapFlags.ANONYMOUS:
            syscalls.check_mmap_offset(self.offset)  # mmap(2) checks the offset before it looks the fd up
            file = process.files.get(self.fd)
        return f"{await syscalls.mmap(process.mm, self.addr, self.length, self.prot, self.flags, file, self.offset):#x}"


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Open(Call[Process]):
    name = "open"
    summary = "open a host file for the process; prints its descriptor"
    usage = "open PATH [r|w|rw]"
    arguments = (
        Argument("PATH", "a host file (symlinks are resolved)"),
        Argument("r|w|rw", "read-only (default), write-only or read-write", optional=True),
    )

    path: str
    access: str = "r"

    @classmethod
    def parse(cls, words: Sequence[str]) -> Open:
        check_arity(words, 1, 2, cls.usage)
        access = words[2] if len(words) > 2 else "r"
        if access not in ACCESS_WORDS:
            raise invalid(f"access {access[:10]!r} is not one of {', '.join(ACCESS_WORDS)}")
        return cls(words[1], access)

    def line(self) -> str:
        return f"open {self.path} {self.access}"

    async def apply(self, process: Process) -> str:
        readable, writable = ACCESS_WORDS[self.access]
        return str(process.files.install(await host_file(self.path, readable, writable)))


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Close(Call[Process]):
    name = "close"
    summary = "close a descriptor (its mappings stay)"
    usage = "close FD"
    arguments = (Argument("FD", "a descriptor from open"),)

    fd: int

    @classmethod
    def parse(cls, words: Sequence[str]) -> Close:
        return cls(_one_number(words, cls.usage, "FD"))

    def line(self) -> str:
        return f"close {self.fd}"

    async def apply(self, process: Process) -> str:
        process.files.close(self.fd)
        return "0"


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Munmap(Call[Process]):
    name = "munmap"
    summary = "unmap memory"
    usage = "munmap ADDR LEN"
    arguments = (_ADDR, _LEN)
    status_only = True

    addr: int
    length: int

    @classmethod
    def parse(cls, words: Sequence[str]) -> Munmap:
        return cls(*_address_and_length(words, cls.usage))

    def line(self) -> str:
        return f"munmap {self.addr:#x} {self.length:#x}"

    async def apply(self, process: Process) -> str:
        await syscalls.munmap(process.mm, self.addr, self.length)
        return "0"


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Mprotect(Call[Process]):
    name = "mprotect"
    summary = "change protection"
    usage = "mprotect ADDR LEN PROT"
    arguments = (_ADDR, _LEN, Argument("PROT", "like r--"))
    status_only = True

    addr: int
    length: int
    prot: VmFlags

    @classmethod
    def parse(cls, words: Sequence[str]) -> Mprotect:
        check_arity(words, 3, 3, cls.usage)
        return cls(parse_number(words[1], "ADDR"), parse_number(words[2], "LEN"), parse_prot(words[3]))

    def line(self) -> str:
        return f"mprotect {self.addr:#x} {self.length:#x} {prot_to_text(self.prot)}"

    async def apply(self, process: Process) -> str:
        await syscalls.mprotect(process.mm, self.addr, self.length, self.prot)
        return "0"


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Mremap(Call[Process]):
    name = "mremap"
    summary = "resize or move a mapping; prints the new address"
    usage = "mremap OLD OLDLEN NEWLEN [FLAGS [NEWADDR]]"
    arguments = (
        Argument("OLD", "old address"),
        Argument("OLDLEN", "old length"),
        Argument("NEWLEN", "new length"),
        Argument("FLAGS", f"- or comma-separated: {','.join(MREMAP_FLAGS.words)}", optional=True),
        Argument("NEWADDR", "where to move it (with fixed)", optional=True),
    )

    old: int
    old_len: int
    new_len: int
    flags: MremapFlags = MremapFlags.NONE
    new_addr: int = 0

    @classmethod
    def parse(cls, words: Sequence[str]) -> Mremap:
        check_arity(words, 3, 5, cls.usage)
        old, old_len, new_len = (parse_number(word, what) for word, what in zip(words[1:4], ("OLD", "OLDLEN", "NEWLEN")))
        flags = MREMAP_FLAGS.parse(words[4]) if len(words) > 4 else MremapFlags.NONE
        new_addr = parse_number(words[5], "NEWADDR") if len(words) > 5 else 0
        return cls(old, old_len, new_len, flags, new_addr)

    def line(self) -> str:
        new_addr = f" {self.new_addr:#x}" if self.new_addr else ""
        return f"mremap {self.old:#x} {self.old_len:#x} {self.new_len:#x} {MREMAP_FLAGS.text(self.flags)}{new_addr}"

    async def apply(self, process: Process) -> str:
        return f"{await syscalls.mremap(process.mm, self.old, self.old_len, self.new_len, self.flags, self.new_addr):#x}"


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Query(Call[Process]):
    name = "query"
    summary = "show the VMA at an address (PROCMAP_QUERY)"
    usage = "query ADDR [FLAGS]"
    arguments = (
        Argument("ADDR", "address"),
        Argument("FLAGS", f"comma-separated: {','.join(QUERY_FLAGS.words)}", optional=True),
    )

    addr: int
    flags: QueryFlags = QueryFlags(0)

    @classmethod
    def parse(cls, words: Sequence[str]) -> Query:
        check_arity(words, 1, 2, cls.usage)
        addr = parse_number(words[1], "ADDR")
        return cls(addr, QUERY_FLAGS.parse(words[2]) if len(words) > 2 else QueryFlags(0))

    def line(self) -> str:
        return f"query {self.addr:#x}" + (f" {QUERY_FLAGS.text(self.flags)}" if self.flags else "")

    async def apply(self, process: Process) -> str:
        return format_maps_line(await query(process.mm, self.addr, self.flags)).rstrip("\n")


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Touch(Call[Process]):
    name = "touch"
    summary = "fault pages in"
    usage = "touch ADDR LEN"
    arguments = (_ADDR, _LEN)
    status_only = True

    addr: int
    length: int

    @classmethod
    def parse(cls, words: Sequence[str]) -> Touch:
        return cls(*_address_and_length(words, cls.usage))

    def line(self) -> str:
        return f"touch {self.addr:#x} {self.length:#x}"

    async def apply(self, process: Process) -> str:
        await syscalls.touch(process.mm, self.addr, self.length)
        return "0"


@dataclass(frozen=True)
class ProcessSummary:
    """One process as ``fakeproc ps`` and the daemon's banner show it."""

    pid: int
    comm: str
    vmas: int
    size_kb: int
    lock: str
    #: The workload's spec, or None.
    workload: str | None
    #: Its changes per second; None when it runs flat out (or there is no workload).
    rate: float | None

    @classmethod
    def of(cls, process: Process) -> ProcessSummary:
        """O(1)."""
        mm = process.mm
        return cls(process.pid, process.comm, mm.map_count, mm.total_vm >> 10, mm.reader_lock_mode.value,
                   process.workload, process.workload_rate)

    def words(self) -> str:
        """The ``info`` result: ``key=value`` words, comm last because it may hold spaces."""
        workload = self.workload or "-"
        rate = "-" if self.rate is None else repr(self.rate)
        return (f"pid={self.pid} vmas={self.vmas} size_kb={self.size_kb} lock={self.lock} "
                f"workload={workload} rate={rate} comm={self.comm}")

    @classmethod
    def from_words(cls, line: str) -> ProcessSummary:
        """The summary :meth:`words` wrote; ValueError for anything else."""
        head, separator, comm = line.rstrip("\n").partition(" comm=")
        fields = dict(word.split("=", 1) for word in head.split())
        if not separator or set(fields) != {"pid", "vmas", "size_kb", "lock", "workload", "rate"}:
            raise ValueError(f"not an info line: {line[:80]!r}")
        return cls(int(fields["pid"]), comm, int(fields["vmas"]), int(fields["size_kb"]), fields["lock"],
                   None if fields["workload"] == "-" else fields["workload"],
                   None if fields["rate"] == "-" else float(fields["rate"]))


def format_summaries(summaries: Sequence[ProcessSummary]) -> str:
    """A table with one row per process, comm last; the header alone when there are none."""
    rows = [f"{'PID':>7}  {'VMAS':>6}  {'SIZE_KB':>10}  {'LOCK':<14}  {'WORKLOAD':<14}  {'RATE':>6}  COMM"]
    for summary in summaries:
        if summary.workload is None:
            workload = rate = "-"
        else:
            workload, rate = summary.workload, "full" if summary.rate is None else f"{summary.rate:g}/s"
        rows.append(f"{summary.pid:>7}  {summary.vmas:>6}  {summary.size_kb:>10}  {summary.lock:<14}  "
                    f"{workload:<14}  {rate:>6}  {summary.comm}")
    return "\n".join(rows) + "\n"


@PROCESS_CALLS.register
@dataclass(frozen=True)
class Info(Call[Process]):
    name = "info"
    summary = "describe the process: pid, VMAs, size, lock mode, workload, comm"
    usage = "info"
    arguments = ()

    @classmethod
    def parse(cls, words: Sequence[str]) -> Info:
        check_arity(words, 0, 0, cls.usage)
        return cls()

    def line(self) -> str:
        return "info"

    async def apply(self, process: Process) -> str:
        return ProcessSummary.of(process).words()


# -- root calls -------------------------------------------------------------


@ROOT_CALLS.register
@dataclass(frozen=True)
class Spawn(Call[ProcessTable]):
    name = "spawn"
    summary = "start a simulated process, or one that runs a workload; prints its pid"
    usage = f"spawn [NAME] [layout={'|'.join(LAYOUTS)} | workload=KIND[:ARG] [rate=N]] [lock=MODE]"
    # The words may come in any order: these are only the CLI's names for them.
    arguments = (
        Argument("NAME", "its comm (default sim, or the workload's name)", optional=True),
        Argument(f"layout={'|'.join(LAYOUTS)}", "its address space to start with (default empty)", optional=True),
        Argument("workload=KIND[:ARG]", "keep changing its address space: mapper[:PAGES], toggler:split|resize|remap, "
                 "scenario:1..10; kill stops it", optional=True),
        Argument("rate=N", "the workload's changes per second (default: as fast as it goes)", optional=True),
        Argument("lock=MODE", "how its maps readers lock (default: the daemon's --lock-mode)", optional=True),
    )

    comm: str | None = None
    layout: str = "empty"
    lock: LockMode | None = None
    workload: str | None = None
    rate: float | None = None

    @classmethod
    def parse(cls, words: Sequence[str]) -> Spawn:
        comm, layout, lock, workload, rate = None, "empty", None, None, None
        for word in words[1:]:
            key, separator, value = word.partition("=")
            if key == "layout" and value:
                if value not in LAYOUTS:
                    raise invalid(f"layout {value!r} is not one of {', '.join(LAYOUTS)}")
                layout = value
            elif key == "lock" and value:
                try:
                    lock = LockMode.parse(value)
                except ValueError as error:
                    raise invalid(str(error)) from None
            elif key == "workload" and value:
                workload = value
            elif key == "rate" and value:
                rate = _parse_rate(value)
            elif not separator and _NAME.fullmatch(word):
                comm = word
            else:
                raise invalid(f"spawn: unexpected {word[:40]!r}; usage: {cls.usage}")
        if workload is not None and layout != "empty":
            raise invalid("spawn: a workload builds its own address space; give layout= or workload=, not both")
        if rate is not None and workload is None:
            raise invalid("spawn: rate= paces a workload; give workload= too")
        return cls(comm, layout, lock, workload, rate)

    def line(self) -> str:
        words = ["spawn"] + ([self.comm] if self.comm else [])
        words.append(f"layout={self.layout}" if self.workload is None else f"workload={self.workload}")
        words += [] if self.rate is None else [f"rate={self.rate!r}"]
        words += [] if self.lock is None else [f"lock={self.lock.value}"]
        return " ".join(words)

    async def apply(self, table: ProcessTable) -> str:
        return await self.apply_as(table, None)

    async def apply_as(self, table: ProcessTable, caller: Credentials | None) -> str:
        if self.workload is not None:
            return str((await self._start_workload(table)).pid)
        owner = caller or Credentials.of_daemon()
        process = table.spawn(self.comm or "sim", self.lock, uid=owner.uid, gid=owner.gid)
        LAYOUTS[self.layout](process)
        return str(process.pid)

    async def _start_workload(self, table: ProcessTable) -> Process:
        assert self.workload is not None
        if table.start_workload is None:
            raise SyscallError(errno.EOPNOTSUPP, "workloads run only inside a mounted daemon")
        try:
            return await table.start_workload(self.workload, self.rate, self.comm, self.lock)
        except ValueError as error:
            raise invalid(str(error)) from None


#: Above this a paced workload is no slower than one running flat out.
_MAX_RATE = 1e6


def _parse_rate(text: str) -> float:
    """Changes per second: a positive decimal such as ``4`` or ``0.5``."""
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not 0 < rate <= _MAX_RATE:
        raise invalid(f"rate {text[:40]!r} must be a number of changes per second, above 0 and at most {_MAX_RATE:g}")
    return rate


@ROOT_CALLS.register
@dataclass(frozen=True)
class Kill(Call[ProcessTable]):
    name = "kill"
    summary = "end a simulated process"
    usage = "kill PID"
    arguments = (Argument("PID", "the process"),)
    status_only = True

    pid: int

    @classmethod
    def parse(cls, words: Sequence[str]) -> Kill:
        return cls(_one_number(words, cls.usage, "PID"))

    def line(self) -> str:
        return f"kill {self.pid}"

    async def apply(self, table: ProcessTable) -> str:
        table.kill(self.pid)
        return "0"


@ROOT_CALLS.register
@dataclass(frozen=True)
class Clone(Call[ProcessTable]):
    name = "clone"
    summary = "copy a real process's maps; prints the new pid"
    usage = "clone PID"
    arguments = (Argument("PID", "a real pid"),)

    pid: int

    @classmethod
    def parse(cls, words: Sequence[str]) -> Clone:
        return cls(_one_number(words, cls.usage, "PID"))

    def line(self) -> str:
        return f"clone {self.pid}"

    async def apply(self, table: ProcessTable) -> str:
        return str(clone_real_process(table, self.pid).pid)


@ROOT_CALLS.register
@dataclass(frozen=True)
class SelfView(Call[ProcessTable]):
    name = "self"
    summary = "make a simulated process the /proc/self of a real process and its descendants"
    usage = "self REALPID PID"
    arguments = (Argument("REALPID", "a real process (fakeproc exec registers its command)"),
                 Argument("PID", "the simulated process its /proc/self names"))

    real_pid: int
    pid: int

    @classmethod
    def parse(cls, words: Sequence[str]) -> SelfView:
        check_arity(words, 2, 2, cls.usage)
        return cls(parse_number(words[1], "REALPID"), parse_number(words[2], "PID"))

    def line(self) -> str:
        return f"self {self.real_pid} {self.pid}"

    async def apply(self, table: ProcessTable) -> str:
        real = real_task(self.real_pid)
        if real is None or real.tgid != self.real_pid:
            raise SyscallError(errno.ESRCH, f"no real process {self.real_pid}")
        table.claim_self(self.real_pid, real.start, self.pid)
        return "0"
