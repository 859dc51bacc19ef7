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
from ..process import FIRST_PID, Process, ProcessTable
from ..procfs.maps import MapsIterator
from ..procfs.smaps import SmapsIterator, SmapsRollupIterator
from ..procfs.status import render_cmdline, render_comm, render_status
from ..seqfile import PageObserver, SeqFile, SeqIterator
from .reader_stats import ReaderStats

log = logging.getLogger("fakeproc.fs")

#: How /proc spells a pid: plain ASCII decimal, no sign and no leading zero.
_PID_NAME = re.compile(r"[1-9][0-9]*")

ROOT_INODE = pyfuse3.ROOT_INODE


class OpenFile(Protocol):
    """What a source hands the filesystem for one open()."""

    nonseekable: bool

    async def read(self, offset: int, size: int) -> bytes: ...

    async def write(self, data: bytes) -> int: ...


class ReadOnlySource:
    """Base of the files that, like their /proc originals, accept no write."""

    nonseekable = False

    async def write(self, data: bytes) -> int:
        raise SyscallError(errno.EINVAL, "this file cannot be written")


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


Owner = TypeVar("Owner")


@dataclass(frozen=True)
class Entry(Generic[Owner]):
    """One file of a directory: name, permission bits, and how to open it for the directory's owner."""

    name: str
    mode: int
    open: Callable[[Owner, ReaderStats], OpenFile]

    @property
    def writable(self) -> bool:
        return bool(self.mode & 0o200)


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


def _text(render: Callable[[Process], bytes]) -> Callable[[Process, ReaderStats], OpenFile]:
    return lambda process, _: TextSource(process, render)


def _paged(iterator: Callable[[Process, PageObserver], SeqIterator[Any]]) -> Callable[[Process, ReaderStats], OpenFile]:
    """A seq_file whose pages the daemon's reader statistics count."""
    return lambda process, stats: SeqSource(SeqFile(iterator(process, stats.page_counter(process))))


ROOT_ENTRIES: EntryTable[ProcessTable] = EntryTable(
    (Entry("ctl", 0o600, lambda table, _: ControlSource(root_session(table))),)
)
PROCESS_ENTRIES: EntryTable[Process] = EntryTable(
    (
        Entry("cmdline", 0o444, _text(render_cmdline)),
        Entry("comm", 0o444, _text(render_comm)),
        Entry("ctl", 0o600, lambda process, _: ControlSource(process_session(process))),
        Entry("maps", 0o444, _paged(lambda process, observer: MapsIterator(process, observer=observer))),
        Entry("smaps", 0o444, _paged(lambda process, observer: SmapsIterator(process, observer=observer))),
        Entry("smaps_rollup", 0o444, lambda process, _: SeqSource(SeqFile(SmapsRollupIterator(process)))),
        Entry("status", 0o444, _text(render_status)),
    )
)
# The root lists its entries at offsets 1..n and each process at its pid.
assert len(ROOT_ENTRIES) < FIRST_PID


class InodeScheme:
    """``inode = block * stride + slot + 1``, without a cap on any table.

    Block 0 is the root directory and block ``pid`` that process's directory;
    slot 0 is the directory itself and slot ``n`` its n-th entry.  The stride
    is one more than the longest table, so every (block, slot) has its own
    inode, a process's inodes hold for as long as it lives, and pids are never
    reused, so no inode ever names another file.  The root is inode 1, as FUSE
    wants.
    """

    ROOT_BLOCK = 0

    def __init__(self, *tables: EntryTable[Any]) -> None:
        self.stride = 1 + max(len(table) for table in tables)

    def inode(self, block: int, slot: int = 0) -> int:
        """O(1)."""
        assert 0 <= slot < self.stride, f"slot {slot} outside a stride of {self.stride}"
        return block * self.stride + slot + 1

    def split(self, inode: int) -> tuple[int, int]:
        """(block, slot) of an inode.  O(1)."""
        return divmod(inode - 1, self.stride)


class Directory(Generic[Owner]):
    """A directory: whose it is, its entry table, and its subdirectories (none but the root's)."""

    def __init__(self, block: int, owner: Owner, uid: int, gid: int, entries: EntryTable[Owner]) -> None:
        self.block = block
        self.owner = owner
        self.uid = uid
        self.gid = gid
        self.entries = entries

    def link_count(self) -> int:
        """``.``, the parent's link to it, and each subdirectory's ``..``."""
        return 2

    def subdirectory(self, name: str) -> int | None:
        """The block of the subdirectory called ``name``."""
        return None

    def subdirectories(self, after: int = 0) -> Iterable[tuple[int, str, int]]:
        """(readdir offset, name, block) of each subdirectory whose offset is above ``after``, in offset order."""
        return ()


class RootDirectory(Directory[ProcessTable]):
    """The mount's root: its entry table, then a directory per live process at offset pid."""

    def link_count(self) -> int:
        return 2 + len(self.owner)

    def subdirectory(self, name: str) -> int | None:
        if _PID_NAME.fullmatch(name) and self.owner.find(int(name)) is not None:
            return int(name)
        return None

    def subdirectories(self, after: int = 0) -> Iterable[tuple[int, str, int]]:
        """O(log n) to start, then O(1) per process."""
        return ((process.pid, str(process.pid), process.pid) for process in self.owner.after(after))


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
    """A fake /proc over a ProcessTable."""

    supports_dot_lookup = True
    enable_writeback_cache = False

    def __init__(self, table: ProcessTable, debug: bool = False, process_entries: EntryTable[Process] = PROCESS_ENTRIES) -> None:
        super().__init__()
        self.table = table
        self.debug = debug
        self.process_entries = process_entries
        self.inodes = InodeScheme(ROOT_ENTRIES, process_entries)
        assert self.inodes.inode(InodeScheme.ROOT_BLOCK) == ROOT_INODE
        self.reader_stats = ReaderStats()
        self._files: dict[int, OpenFile] = {}
        self._handles = itertools.count(1)
        self._uid = os.getuid()
        self._gid = os.getgid()
        self._root = RootDirectory(InodeScheme.ROOT_BLOCK, table, self._uid, self._gid, ROOT_ENTRIES)

    # -- inodes -----------------------------------------------------------

    def _directory(self, block: int) -> Directory[Any]:
        if block == InodeScheme.ROOT_BLOCK:
            return self._root
        process = self.table.find(block)
        if process is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return Directory(block, process, process.uid, process.gid, self.process_entries)

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
            attrs.st_mode = stat.S_IFREG | entry.mode
            attrs.st_nlink = 1
        return attrs

    @fuse_errors
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        return self._attributes(inode)

    @fuse_errors
    async def lookup(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        text = name.decode(errors="replace")
        if self.debug:
            log.debug("lookup parent=%d name=%r", parent_inode, text)
        if text == ".":
            return self._attributes(parent_inode)
        directory, entry = self._resolve(parent_inode)
        if entry is not None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if text == "..":
            return self._attributes(ROOT_INODE)
        slot = directory.entries.slot(text)
        if slot is not None:
            return self._attributes(self.inodes.inode(directory.block, slot))
        block = directory.subdirectory(text)
        if block is not None:
            return self._attributes(self.inodes.inode(block))
        raise pyfuse3.FUSEError(errno.ENOENT)

    # -- directories ------------------------------------------------------

    @fuse_errors
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        _, entry = self._resolve(inode)
        if entry is not None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

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
        for offset, name, child in self.listing(inode, start_id):
            try:
                attributes = self._attributes(child)
            except pyfuse3.FUSEError:
                continue
            if not pyfuse3.readdir_reply(token, name, attributes, offset):
                break

    async def releasedir(self, fh: int) -> None:
        return None

    # -- files ------------------------------------------------------------

    @fuse_errors
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        wants_write = flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
        directory, entry = self._resolve(inode)
        if entry is None:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if entry.writable or entry.mode & 0o077 == 0:
            self._check_owner(ctx, directory.uid)
        if wants_write and not entry.writable and ctx.uid != 0:
            raise pyfuse3.FUSEError(errno.EACCES)
        source = entry.open(directory.owner, self.reader_stats)
        if isinstance(source, ControlSource) and flags & os.O_ACCMODE == os.O_WRONLY:
            # Nobody can read this file's results (`cat cmds > ctl`): keeping them would only grow.
            source.session.keep_results = False
        handle = next(self._handles)
        self._files[handle] = source
        if self.debug:
            log.debug("open inode=%d flags=%#o -> fh=%d %s", inode, flags, handle, type(source).__name__)
        return pyfuse3.FileInfo(fh=handle, direct_io=True, keep_cache=False, nonseekable=source.nonseekable)

    @staticmethod
    def _check_owner(ctx: pyfuse3.RequestContext, owner: int) -> None:
        if ctx.uid not in (0, owner):
            raise pyfuse3.FUSEError(errno.EACCES)

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
        self._files.pop(fh, None)

    async def flush(self, fh: int) -> None:
        return None

    @fuse_errors
    async def setattr(self, inode: int, attr: pyfuse3.EntryAttributes, fields: pyfuse3.SetattrFields, fh: int | None, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if fields.update_size:
            # `echo cmd > ctl` truncates first; a truncate of a /proc file is a no-op.
            return self._attributes(inode)
        raise pyfuse3.FUSEError(errno.EPERM)

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
