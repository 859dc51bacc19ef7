"""The FUSE filesystem: inodes, lookup, readdir, open, read, write.

This is the module that answers pyfuse3's requests and raises FUSEError.
Every directory is an entry table plus, for the root, one subdirectory per
process: :data:`ROOT_ENTRIES` and :data:`PROCESS_ENTRIES` declare the files,
and each entry names how to open its file.  :class:`InodeScheme` numbers them.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import re
import stat
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import pyfuse3

from ..ctl import ControlSession, process_session, root_session
from ..errors import SyscallError
from ..process import FIRST_PID, Credentials, Process, ProcessTable
from ..procfs.maps import MapsIterator
from ..procfs.smaps import SmapsIterator, SmapsRollupIterator
from ..procfs.stat import executable_path, render_environ, render_stat, render_statm
from ..procfs.status import render_cmdline, render_comm, render_status
from ..seqfile import PageObserver, SeqFile, SeqIterator
from .passthrough import RealProcTree, check_caller, self_link
from .reader_stats import ReaderStats

log = logging.getLogger("fakeproc.fs")

#: How /proc spells a pid: plain ASCII decimal, no sign and no leading zero.
_PID_NAME = re.compile(r"[1-9][0-9]*")

ROOT_INODE = pyfuse3.ROOT_INODE
#: Directory handles of snapshots start here; other directories' handles are their inodes, all below it.
_SNAPSHOT_HANDLES = 1 << 62


class OpenFile(Protocol):
    """What a source hands the filesystem for one open()."""

    nonseekable: bool

    async def read(self, offset: int, size: int) -> bytes: ...

    async def write(self, data: bytes) -> int: ...

    def close(self) -> None: ...


class ReadOnlySource:
    """Base of the files that, like their /proc originals, accept no write."""

    nonseekable = False

    async def write(self, data: bytes) -> int:
        raise SyscallError(errno.EINVAL, "this file cannot be written")

    def close(self) -> None:
        return None


class SeqSource(ReadOnlySource):
    """A seq_file-backed file (maps, smaps, smaps_rollup)."""

    def __init__(self, seq: SeqFile) -> None:
        self.seq = seq

    async def read(self, offset: int, size: int) -> bytes:
        return await self.seq.read(offset, size)


class TextSource(ReadOnlySource):
    """A small file rendered whole when read from offset 0 (status, comm, cmdline)."""

    def __init__(self, process: Process, render: Callable[[Process], bytes]) -> None:
        self.process = process
        self.render = render
        self.text = b""

    async def read(self, offset: int, size: int) -> bytes:
        self.process.check_alive()
        if offset == 0 or not self.text:
            self.text = self.render(self.process)
        return self.text[offset : offset + size]


class ControlSource:
    """A ctl file: non-seekable, results read back in order like a pipe."""

    nonseekable = True

    def __init__(self, session: ControlSession[Any]) -> None:
        self.session = session

    async def read(self, offset: int, size: int) -> bytes:
        return self.session.read(size)

    async def write(self, data: bytes) -> int:
        return await self.session.write(data)

    def close(self) -> None:
        return None


Owner = TypeVar("Owner")


@dataclass(frozen=True)
class Opener:
    """Who opens a file, and the reader statistics its pages count in."""

    caller: Credentials
    stats: ReaderStats


@dataclass(frozen=True)
class Entry(Generic[Owner]):
    """One file of a directory: name, permission bits, and how to open it for the directory's owner.

    ``ptrace_read``: like the kernel's ``proc_mem_open``, only the process's
    owner and root may open it, whatever its mode says (maps, smaps,
    smaps_rollup and environ show what defeats ASLR or holds secrets).  A
    symbolic link has ``link`` instead of ``open``: its target for the owner
    and the calling request (``/proc/self`` depends on who asks).
    """

    name: str
    mode: int
    name: str
    mode: int
    open: Callable[[Owner, Opener], OpenFile] | None = None
    ptrace_read: bool = False
    link: Callable[[Owner, pyfuse3.RequestContext], str] | None = None

    @property
    def file_type(self) -> int:
        return stat.S_IFLNK if self.link is not None else stat.S_IFREG


class EntryTable(Generic[Owner]):
    """A directory's files in readdir order; slot ``n`` (from 1) is the n-th entry, slot 0 the directory."""

    def __init__(self, entries: Sequence[Entry[Owner]]) -> None:
        self.entries = tuple(entries)
        self._slots = {entry.name: slot for slot, entry in enumerate(self.entries, 1)}
        assert len(self._slots) == len(self.entries), "two entries share a name"

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[tuple[int, Entry[Owner]]]:
        """(slot, entry) pairs in readdir order."""
        return enumerate(self.entries, 1)

    def slot(self, name: str) -> int | None:
        """The slot of the entry called ``name``.  O(1)."""
        return self._slots.get(name)

    def entry(self, slot: int) -> Entry[Owner]:
        """The entry in ``slot`` (1 to len), or ENOENT.  O(1)."""
        if not 0 < slot <= len(self.entries):
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self.entries[slot - 1]


def _text(render: Callable[[Process], bytes]) -> Callable[[Process, Opener], OpenFile]:
    return lambda process, _: TextSource(process, render)


def _paged(iterator: Callable[[Process, PageObserver], SeqIterator[Any]]) -> Callable[[Process, Opener], OpenFile]:
    """A seq_file with a page cache, whose pages and cache fills the daemon's reader statistics count."""
    return lambda process, opener: SeqSource(
        SeqFile(
            iterator(process, opener.stats.page_counter(process)),
            cache_totals=opener.stats.counters(process).page_cache,
        )
    )


def _exe(process: Process, _: pyfuse3.RequestContext) -> str:
    path = executable_path(process)
    if path is None:
        # The kernel's answer for a task without an executable (a kernel thread).
        raise pyfuse3.FUSEError(errno.ENOENT)
    return path


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(process: Process) -> bytes:
    return render_stat(process, int(process.started * _CLOCK_TICKS))


_ROOT_CTL = Entry("ctl", 0o600, lambda table, opener: ControlSource(root_session(table, opener.caller)))
ROOT_ENTRIES: EntryTable[ProcessTable] = EntryTable((_ROOT_CTL,))
#: The root of a mount that passes the real /proc through: /proc/self and thread-self answer per caller.
PASSTHROUGH_ROOT_ENTRIES: EntryTable[ProcessTable] = EntryTable(
    (
        _ROOT_CTL,
        Entry("self", 0o777, link=lambda table, ctx: self_link(table, ctx, thread=False)),
        Entry("thread-self", 0o777, link=lambda table, ctx: self_link(table, ctx, thread=True)),
    )
)
#: A process's files; its only thread's task/<tid>/ directory has the same ones.
PROCESS_ENTRIES: EntryTable[Process] = EntryTable(
    (
        Entry("cmdline", 0o444, _text(render_cmdline)),
        Entry("comm", 0o444, _text(render_comm)),
        Entry("ctl", 0o600, lambda process, _: ControlSource(process_session(process))),
        # A simulated process runs nowhere in particular: the machine's root is its root and working directory.
        Entry("cwd", 0o777, link=lambda process, _: "/"),
        Entry("environ", 0o400, _text(lambda process: render_environ(process.environ)), ptrace_read=True),
        Entry("exe", 0o777, link=_exe),
        Entry("maps", 0o444, _paged(lambda process, observer: MapsIterator(process, observer=observer)), ptrace_read=True),
        Entry("root", 0o777, link=lambda process, _: "/"),
        Entry("smaps", 0o444, _paged(lambda process, observer: SmapsIterator(process, observer=observer)), ptrace_read=True),
        Entry("smaps_rollup", 0o444, lambda process, _: SeqSource(SeqFile(SmapsRollupIterator(process))), ptrace_read=True),
        Entry("stat", 0o444, _text(_stat)),
        Entry("statm", 0o444, _text(render_statm)),
        Entry("status", 0o444, _text(render_status)),
    )
)
NO_ENTRIES: EntryTable[Any] = EntryTable(())
# The root lists its entries at offsets 1..n and each process at its pid.
assert len(PASSTHROUGH_ROOT_ENTRIES) < FIRST_PID


class InodeScheme:
    """``inode = block * stride + slot + 1``, without a cap on any table.

    Block 0 is the root directory; process ``pid`` has three blocks from
    ``pid * BLOCKS_PER_PROCESS``: its directory, its ``task`` directory and
    ``task/<pid>``.  Slot 0 is the directory itself and slot ``n`` its n-th
    entry.  The stride
    is one more than the longest table, so every (block, slot) has its own
    inode, a process's inodes hold for as long as it lives, and pids are never
    reused, so no inode ever names another file.  The root is inode 1, as FUSE
    wants.
    """

    ROOT_BLOCK = 0
    BLOCKS_PER_PROCESS = 3
    PROCESS, TASKS, THREAD = range(BLOCKS_PER_PROCESS)

    def __init__(self, *tables: EntryTable[Any]) -> None:
        self.stride = 1 + max(len(table) for table in tables)

    def inode(self, block: int, slot: int = 0) -> int:
        """O(1)."""
        assert 0 <= slot < self.stride, f"slot {slot} outside a stride of {self.stride}"
        return block * self.stride + slot + 1

    def split(self, inode: int) -> tuple[int, int]:
        """(block, slot) of an inode.  O(1)."""
        return divmod(inode - 1, self.stride)

    @classmethod
    def process_block(cls, pid: int, kind: int = 0) -> int:
        """The block of process ``pid``'s directory of ``kind`` (PROCESS, TASKS or THREAD).  O(1)."""
        return pid * cls.BLOCKS_PER_PROCESS + kind


class Directory(Generic[Owner]):
    """A directory: whose it is, its entry table, its parent, and its subdirectories (none by default)."""

    def __init__(self, block: int, owner: Owner, uid: int, gid: int, entries: EntryTable[Owner],
                 parent: int = InodeScheme.ROOT_BLOCK) -> None:
        self.block = block
        self.owner = owner
        self.uid = uid
        self.gid = gid
        self.entries = entries
        self.parent = parent

    def link_count(self) -> int:
        """``.``, the parent's link to it, and each subdirectory's ``..``."""
        return 2 + sum(1 for _ in self.subdirectories())

    def permits(self, ctx: pyfuse3.RequestContext, entry: Entry[Owner] | None, wanted: int) -> bool:
        """access(2)'s answer for ``wanted`` (``R_OK|W_OK|X_OK`` bits) on ``entry``, or on the directory if None.

        The permission bits of the caller's class decide, as for any file;
        root may read and write every file, execute only what has an x bit,
        and, as in /proc, write to no directory.  The caller's supplementary
        groups are not known to FUSE, so only its own gid counts.  O(1).
        """
        mode = 0o555 if entry is None else entry.mode
        if ctx.uid == 0:
            denied = os.W_OK if entry is None else 0 if mode & 0o111 else os.X_OK
            return not wanted & denied
        shift = 6 if ctx.uid == self.uid else 3 if ctx.gid == self.gid else 0
        return not wanted & ~(mode >> shift) & 0o7

    def may_ptrace(self, ctx: pyfuse3.RequestContext) -> bool:
        """The kernel's ptrace read check without capabilities: root, or the same uid and gid as the owner."""
        return ctx.uid == 0 or (ctx.uid, ctx.gid) == (self.uid, self.gid)

    def subdirectory(self, name: str) -> int | None:
        """The block of the subdirectory called ``name``."""
        return next((block for _, child, block in self.subdirectories() if child == name), None)

    def subdirectories(self, after: int = 0) -> Iterable[tuple[int, str, int]]:
        """(readdir offset, name, block) of each subdirectory whose offset is above ``after``, in offset order."""
        return ()


class RootDirectory(Directory[ProcessTable]):
    """The mount's root: its entry table, then a directory per live process at offset pid."""

    def link_count(self) -> int:
        return 2 + len(self.owner)

    def subdirectory(self, name: str) -> int | None:
        if _PID_NAME.fullmatch(name) and self.owner.find(int(name)) is not None:
            return InodeScheme.process_block(int(name))
        return None

    def subdirectories(self, after: int = 0) -> Iterable[tuple[int, str, int]]:
        """O(log n) to start, then O(1) per process."""
        return ((process.pid, str(process.pid), InodeScheme.process_block(process.pid))
                for process in self.owner.after(after))


class ProcessDirectory(Directory[Process]):
    """``<pid>/``: the process's files, then ``task``."""

    def subdirectories(self, after: int = 0) -> Iterable[tuple[int, str, int]]:
        offset = len(self.entries) + 1
        return ((offset, "task", InodeScheme.process_block(self.owner.pid, InodeScheme.TASKS)),) if offset > after else ()


class TasksDirectory(Directory[Process]):
    """``<pid>/task/``: one directory per thread; a simulated process has one, whose tid is its pid."""

    def subdirectories(self, after: int = 0) -> Iterable[tuple[int, str, int]]:
        pid = self.owner.pid
        return ((1, str(pid), InodeScheme.process_block(pid, InodeScheme.THREAD)),) if after < 1 else ()


Method = TypeVar("Method", bound=Callable[..., Awaitable[Any]])


def fuse_errors(method: Method) -> Method:
    """Answer a failed request with its errno; never let an exception end the session.

    pyfuse3 lets anything but FUSEError escape its request loop and unmount.
    A SyscallError becomes its errno; any other bug is logged and becomes EIO.
    """

    @functools.wraps(method)
    async def wrapper(self: ProcFs, *args: Any) -> Any:
        try:
            return await method(self, *args)
        except pyfuse3.FUSEError:
            raise
        except SyscallError as error:
            if self.debug:
                log.debug("%s%r -> %s", method.__name__, args[:2], error)
            raise pyfuse3.FUSEError(error.errno or errno.EIO) from None
        except Exception:
            log.exception("%s%r failed; answering EIO", method.__name__, args[:2])
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper  # type: ignore[return-value]


class ProcFs(pyfuse3.Operations):
    """A fake /proc over a ProcessTable; with ``passthrough``, the host's /proc around it."""

    supports_dot_lookup = True
    enable_writeback_cache = False

    def __init__(self, table: ProcessTable, debug: bool = False, process_entries: EntryTable[Process] = PROCESS_ENTRIES,
                 passthrough: bool = False) -> None:
        super().__init__()
        self.table = table
        self.debug = debug
        self.process_entries = process_entries
        root_entries = PASSTHROUGH_ROOT_ENTRIES if passthrough else ROOT_ENTRIES
        self.inodes = InodeScheme(root_entries, process_entries)
        assert self.inodes.inode(InodeScheme.ROOT_BLOCK) == ROOT_INODE
        self.real = RealProcTree(table) if passthrough else None
        self.reader_stats = ReaderStats()
        self._files: dict[int, OpenFile] = {}
        self._handles = itertools.count(1)
        #: Snapshots of directories that hold real entries, by handle: (name, simulated inode or real path).
        self._listings: dict[int, list[tuple[str, int | str]]] = {}
        daemon = Credentials.of_daemon()
        self._root = RootDirectory(InodeScheme.ROOT_BLOCK, table, daemon.uid, daemon.gid, root_entries)

    # -- inodes -----------------------------------------------------------

    def _directory(self, block: int) -> Directory[Any]:
        if block == InodeScheme.ROOT_BLOCK:
            return self._root
        pid, kind = divmod(block, InodeScheme.BLOCKS_PER_PROCESS)
        process = self.table.find(pid)
        if process is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        if kind == InodeScheme.PROCESS:
            return ProcessDirectory(block, process, process.uid, process.gid, self.process_entries)
        if kind == InodeScheme.TASKS:
            return TasksDirectory(block, process, process.uid, process.gid, NO_ENTRIES,
                                  parent=InodeScheme.process_block(pid))
        return Directory(block, process, process.uid, process.gid, self.process_entries,
                         parent=InodeScheme.process_block(pid, InodeScheme.TASKS))

    def _resolve(self, inode: int) -> tuple[Directory[Any], Entry[Any] | None]:
        """Map an inode to its directory and, for a file, the file's entry (ENOENT if gone).  O(1)."""
        block, slot = self.inodes.split(inode)
        directory = self._directory(block)
        return directory, directory.entries.entry(slot) if slot else None

    def _attributes(self, inode: int) -> pyfuse3.EntryAttributes:
        directory, entry = self._resolve(inode)
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = inode
        attrs.st_size = 0
        attrs.st_blksize = 4096
        attrs.entry_timeout = 0
        attrs.attr_timeout = 0
        attrs.st_uid, attrs.st_gid = directory.uid, directory.gid
        if entry is None:
            attrs.st_mode = stat.S_IFDIR | 0o555
            attrs.st_nlink = directory.link_count()
        else:
            attrs.st_mode = entry.file_type | entry.mode
            attrs.st_nlink = 1
        return attrs

    def _real(self, inode: int, ctx: pyfuse3.RequestContext | None) -> RealProcTree | None:
        """The passthrough tree if ``inode`` is one of its real files (checking the caller may read it)."""
        if self.real is None or not self.real.owns(inode):
            return None
        if ctx is not None:
            check_caller(ctx)
        return self.real

    @fuse_errors
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        real = self._real(inode, ctx)
        if real is not None:
            return real.attributes(inode, real.path(inode))
        return self._attributes(inode)

    def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:  # type: ignore[override]
        if self.real is not None:
            for inode, lookups in inode_list:
                if self.real.owns(inode):
                    self.real.forget(inode, lookups)

    @fuse_errors
    async def lookup(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        text = name.decode(errors="replace")
        if self.debug:
            log.debug("lookup parent=%d name=%r", parent_inode, text)
        if text == ".":
            return await self.getattr(parent_inode, ctx)
        real = self._real(parent_inode, ctx)
        if real is not None:
            return real.lookup(parent_inode, text)
        child = self._child(parent_inode, text)
        if child is not None:
            return self._attributes(child)
        if self.real is not None and parent_inode == ROOT_INODE:
            if ctx is not None:
                check_caller(ctx)
            return self.real.lookup(None, text)
        raise pyfuse3.FUSEError(errno.ENOENT)

    def _child(self, parent_inode: int, text: str) -> int | None:
        """The inode called ``text`` in a directory, or None; ENOTDIR if the parent is a file.  O(1)."""
        if text == ".":
            return parent_inode
        directory, entry = self._resolve(parent_inode)
        if entry is not None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if text == "..":
            return self.inodes.inode(directory.parent)
        slot = directory.entries.slot(text)
        if slot is not None:
            return self.inodes.inode(directory.block, slot)
        block = directory.subdirectory(text)
        return None if block is None else self.inodes.inode(block)

    # -- directories ------------------------------------------------------

    @fuse_errors
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        real = self._real(inode, ctx)
        if real is not None:
            return self._snapshot([(name, real.child_path(inode, name)) for name in real.names(inode)])
        _, entry = self._resolve(inode)
        if entry is not None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if self.real is not None and inode == ROOT_INODE:
            check_caller(ctx)
            simulated: list[tuple[str, int | str]] = [(name.decode(), child) for _, name, child in self.listing(inode)]
            taken = {name for name, _ in simulated}
            return self._snapshot(simulated + [(name, self.real.child_path(None, name))
                                               for name in self.real.names(None) if name not in taken])
        return inode

    def _snapshot(self, listing: list[tuple[str, int | str]]) -> int:
        """A handle on a listing taken at opendir: readdir offsets are its indices, stable while it is open."""
        handle = _SNAPSHOT_HANDLES + next(self._handles)
        self._listings[handle] = listing
        return handle

    def listing(self, inode: int, after: int = 0) -> Iterator[tuple[int, bytes, int]]:
        """(readdir offset, name, inode) of what a directory holds past offset ``after``, in offset order.

        Offsets are stable: an entry's slot, then each process's pid.  Lazy:
        O(log processes) to start, then O(1) per item taken, so a readdir
        call costs what it returns.
        """
        directory, _ = self._resolve(inode)
        block = directory.block
        for slot, entry in directory.entries:
            if slot > after:
                yield slot, entry.name.encode(), self.inodes.inode(block, slot)
        for offset, name, child in directory.subdirectories(after):
            yield offset, name.encode(), self.inodes.inode(child)

    @fuse_errors
    async def readdir(self, inode: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        if self.debug:
            log.debug("readdir inode=%d from=%d", inode, start_id)
        snapshot = self._listings.get(inode)
        if snapshot is not None:
            self._readdir_snapshot(snapshot, start_id, token)
            return
        for offset, name, child in self.listing(inode, start_id):
            try:
                attributes = self._attributes(child)
            except pyfuse3.FUSEError:
                continue
            if not pyfuse3.readdir_reply(token, name, attributes, offset):
                break

    def _readdir_snapshot(self, snapshot: list[tuple[str, int | str]], start_id: int, token: pyfuse3.ReaddirToken) -> None:
        """Reply from ``start_id`` on; a real entry counts as a lookup only once the kernel has taken it."""
        assert self.real is not None
        for offset, (name, child) in enumerate(snapshot[start_id:], start_id + 1):
            try:
                if isinstance(child, int):
                    attributes = self._attributes(child)
                else:
                    attributes = self.real.attributes(0, child)
                    attributes.st_ino = self.real.acquire(child)
            except pyfuse3.FUSEError:
                continue  # gone since the snapshot: a process that exited
            if not pyfuse3.readdir_reply(token, name.encode(), attributes, offset):
                if not isinstance(child, int):
                    self.real.forget(attributes.st_ino, 1)
                break

    async def releasedir(self, fh: int) -> None:
        self._listings.pop(fh, None)

    # -- files ------------------------------------------------------------

    @fuse_errors
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        access = flags & os.O_ACCMODE
        wanted = (os.R_OK if access != os.O_WRONLY else 0) | (os.W_OK if access != os.O_RDONLY else 0)
        real = self._real(inode, ctx)
        if real is not None:
            return self._opened(real.open(inode, flags), inode, flags)
        directory, entry = self._resolve(inode)
        if entry is None:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if entry.open is None:
            raise pyfuse3.FUSEError(errno.ELOOP)
        if not directory.permits(ctx, entry, wanted) or entry.ptrace_read and not directory.may_ptrace(ctx):
            raise pyfuse3.FUSEError(errno.EACCES)
        source = entry.open(directory.owner, Opener(Credentials(ctx.uid, ctx.gid), self.reader_stats))
        if isinstance(source, ControlSource) and flags & os.O_ACCMODE == os.O_WRONLY:
            # Nobody can read this file's results (`cat cmds > ctl`): keeping them would only grow.
            source.session.keep_results = False
        return self._opened(source, inode, flags)

    def _opened(self, source: OpenFile, inode: int, flags: int) -> pyfuse3.FileInfo:
        handle = next(self._handles)
        self._files[handle] = source
        if self.debug:
            log.debug("open inode=%d flags=%#o -> fh=%d %s", inode, flags, handle, type(source).__name__)
        return pyfuse3.FileInfo(fh=handle, direct_io=True, keep_cache=False, nonseekable=source.nonseekable)

    @fuse_errors
    async def access(self, inode: int, mode: int, ctx: pyfuse3.RequestContext) -> bool:
        """Mode bits only, as the kernel's access(2): maps answers R_OK to anyone though only its owner may open it."""
        if self._real(inode, ctx) is not None:
            # The passed-through /proc is read-only; what may be read is decided when it is opened.
            return not mode & os.W_OK
        directory, entry = self._resolve(inode)
        return directory.permits(ctx, entry, mode)

    @fuse_errors
    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        real = self._real(inode, ctx)
        if real is not None:
            return real.readlink(inode)
        directory, entry = self._resolve(inode)
        if entry is None or entry.link is None:
            raise pyfuse3.FUSEError(errno.EINVAL)
        return os.fsencode(entry.link(directory.owner, ctx))

    @fuse_errors
    async def read(self, fh: int, off: int, size: int) -> bytes:
        data = await self._file(fh).read(off, size)
        if self.debug:
            log.debug("read fh=%d off=%d size=%d -> %d bytes", fh, off, size, len(data))
        return data

    @fuse_errors
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        written = await self._file(fh).write(buf)
        if self.debug:
            log.debug("write fh=%d %d bytes -> ok", fh, len(buf))
        return written

    async def release(self, fh: int) -> None:
        source = self._files.pop(fh, None)
        if source is not None:
            source.close()

    async def flush(self, fh: int) -> None:
        return None

    @fuse_errors
    async def setattr(self, inode: int, attr: pyfuse3.EntryAttributes, fields: pyfuse3.SetattrFields, fh: int | None, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        """Change nothing, but refuse as /proc does: chmod always, chown and times unless owner or root, truncate without write permission."""
        if self._real(inode, ctx) is not None:
            raise pyfuse3.FUSEError(errno.EROFS)
        directory, entry = self._resolve(inode)
        owner_or_root = ctx.uid in (0, directory.uid)
        if fields.update_mode:
            raise pyfuse3.FUSEError(errno.EPERM)
        # chown_ok/chgrp_ok: the owner may keep its uid and pick its own group.
        owner_may_chown = ctx.uid == directory.uid and (not fields.update_uid or attr.st_uid == directory.uid) \
            and (not fields.update_gid or attr.st_gid in (directory.gid, ctx.gid))
        if (fields.update_uid or fields.update_gid) and not (ctx.uid == 0 or owner_may_chown):
            raise pyfuse3.FUSEError(errno.EPERM)
        if (fields.update_atime or fields.update_mtime) and not owner_or_root:
            raise pyfuse3.FUSEError(errno.EACCES)
        # `echo cmd > ctl` truncates first; a permitted truncate of a /proc file is a no-op.
        if fields.update_size and not directory.permits(ctx, entry, os.W_OK):
            raise pyfuse3.FUSEError(errno.EACCES)
        return self._attributes(inode)

    # -- names: /proc creates, removes and renames none ---------------------

    def _refuse_removal(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """ENOENT for a missing name; EROFS for one of the passed-through host /proc; else EPERM,
        or EACCES for a non-root caller in the root.

        In the root (0555, as /proc) a non-root caller fails the write
        permission check first; in a process directory, and for root, the
        missing operation answers.  O(1).
        """
        text = name.decode(errors="replace")
        real = self._real(parent_inode, ctx)
        if real is not None or self._child(parent_inode, text) is None:
            # The host's /proc, passed through: nothing of it is ever removed or renamed through the view.
            passed_through = self.real is not None and self.real.exists(
                None if real is None else parent_inode, text) and (real is not None or parent_inode == ROOT_INODE)
            raise pyfuse3.FUSEError(errno.EROFS if passed_through else errno.ENOENT)
        in_root = self.inodes.split(parent_inode)[0] == InodeScheme.ROOT_BLOCK
        raise pyfuse3.FUSEError(errno.EACCES if in_root and ctx.uid != 0 else errno.EPERM)

    @fuse_errors
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        self._refuse_removal(parent_inode, name, ctx)

    @fuse_errors
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        self._refuse_removal(parent_inode, name, ctx)

    @fuse_errors
    async def rename(self, parent_inode_old: int, name_old: bytes, parent_inode_new: int, name_new: bytes,
                     flags: int, ctx: pyfuse3.RequestContext) -> None:
        # /proc looks the target up first: a new name is ENOENT, an existing one cannot be replaced.
        self._refuse_removal(parent_inode_new, name_new, ctx)

    # /proc's lookup of a name that does not exist fails before any creation is tried.

    @fuse_errors
    async def mkdir(self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        raise pyfuse3.FUSEError(errno.ENOENT)

    @fuse_errors
    async def mknod(self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        raise pyfuse3.FUSEError(errno.ENOENT)

    @fuse_errors
    async def symlink(self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        raise pyfuse3.FUSEError(errno.ENOENT)

    @fuse_errors
    async def link(self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        raise pyfuse3.FUSEError(errno.ENOENT)

    @fuse_errors
    async def create(self, parent_inode: int, name: bytes, mode: int, flags: int,
                     ctx: pyfuse3.RequestContext) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        raise pyfuse3.FUSEError(errno.ENOENT)

    def _file(self, fh: int) -> OpenFile:
        source = self._files.get(fh)
        if source is None:
            raise pyfuse3.FUSEError(errno.EBADF)
        return source

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_namemax = 255
        return data
