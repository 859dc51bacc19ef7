"""The FUSE filesystem: inodes, lookup, readdir, open, read, write.

This is the only module that speaks pyfuse3 and raises FUSEError.  A process
directory's entries come from one declarative table, :data:`PROCESS_ENTRIES`;
each entry names a small source type that opens the file.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import re
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pyfuse3

from ..ctl import ControlSession, process_commands, root_commands
from ..errors import SyscallError
from ..process import Process, ProcessTable
from ..seqfile import SeqFile
from ..procfs.maps import MapsIterator
from ..procfs.smaps import SmapsIterator, SmapsRollupIterator
from ..procfs.status import render_cmdline, render_comm, render_status

log = logging.getLogger("fakeproc.fs")

#: How /proc spells a pid: plain ASCII decimal, no sign and no leading zero.
_PID_NAME = re.compile(r"[1-9][0-9]*")

ROOT_INODE = pyfuse3.ROOT_INODE
ROOT_CTL_INODE = 2
#: A process directory's inode is ``pid << ENTRY_BITS``; its entries follow it.
ENTRY_BITS = 5


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

    def __init__(self, session: ControlSession) -> None:
        self.session = session

    async def read(self, offset: int, size: int) -> bytes:
        return self.session.read(size)

    async def write(self, data: bytes) -> int:
        return await self.session.write(data)


@dataclass(frozen=True)
class Entry:
    """One file of a process directory: name, permission bits, and how to open it."""

    name: str
    mode: int
    open: Callable[[Process], OpenFile]

    @property
    def writable(self) -> bool:
        return bool(self.mode & 0o200)


PROCESS_ENTRIES: tuple[Entry, ...] = (
    Entry("cmdline", 0o444, lambda process: TextSource(process, render_cmdline)),
    Entry("comm", 0o444, lambda process: TextSource(process, render_comm)),
    Entry("ctl", 0o600, lambda process: ControlSource(ControlSession(process_commands(process), process))),
    Entry("maps", 0o444, lambda process: SeqSource(SeqFile(MapsIterator(process)))),
    Entry("smaps", 0o444, lambda process: SeqSource(SeqFile(SmapsIterator(process)))),
    Entry("smaps_rollup", 0o444, lambda process: SeqSource(SeqFile(SmapsRollupIterator(process)))),
    Entry("status", 0o444, lambda process: TextSource(process, render_status)),
)
_ENTRY_BY_NAME = {entry.name: (index + 1, entry) for index, entry in enumerate(PROCESS_ENTRIES)}


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

    def __init__(self, table: ProcessTable, debug: bool = False) -> None:
        super().__init__()
        self.table = table
        self.debug = debug
        self._files: dict[int, OpenFile] = {}
        self._handles = itertools.count(1)
        self._uid = os.getuid()
        self._gid = os.getgid()

    # -- inodes -----------------------------------------------------------

    def _resolve(self, inode: int) -> tuple[Process | None, Entry | None]:
        """Map an inode to (process, entry); root-level inodes give (None, None)."""
        if inode in (ROOT_INODE, ROOT_CTL_INODE):
            return None, None
        pid, index = inode >> ENTRY_BITS, inode & ((1 << ENTRY_BITS) - 1)
        process = self.table.find(pid)
        if process is None or index > len(PROCESS_ENTRIES):
            raise pyfuse3.FUSEError(errno.ENOENT)
        return process, PROCESS_ENTRIES[index - 1] if index else None

    def _attributes(self, inode: int) -> pyfuse3.EntryAttributes:
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = inode
        attrs.st_size = 0
        attrs.st_blksize = 4096
        attrs.st_nlink = 1
        attrs.entry_timeout = 0
        attrs.attr_timeout = 0
        attrs.st_uid, attrs.st_gid = self._uid, self._gid
        if inode == ROOT_INODE:
            attrs.st_mode = stat.S_IFDIR | 0o555
            attrs.st_nlink = 2 + len(self.table)
        elif inode == ROOT_CTL_INODE:
            attrs.st_mode = stat.S_IFREG | 0o600
        else:
            process, entry = self._resolve(inode)
            assert process is not None
            attrs.st_uid, attrs.st_gid = process.uid, process.gid
            if entry is None:
                attrs.st_mode = stat.S_IFDIR | 0o555
                attrs.st_nlink = 2
            else:
                attrs.st_mode = stat.S_IFREG | entry.mode
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
        if parent_inode == ROOT_INODE:
            if text == "..":
                return self._attributes(ROOT_INODE)
            if text == "ctl":
                return self._attributes(ROOT_CTL_INODE)
            if _PID_NAME.fullmatch(text) and self.table.find(int(text)) is not None:
                return self._attributes(int(text) << ENTRY_BITS)
            raise pyfuse3.FUSEError(errno.ENOENT)
        process, entry = self._resolve(parent_inode)
        if entry is not None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        assert process is not None
        if text == "..":
            return self._attributes(ROOT_INODE)
        found = _ENTRY_BY_NAME.get(text)
        if found is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attributes((process.pid << ENTRY_BITS) | found[0])

    # -- directories ------------------------------------------------------

    @fuse_errors
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        process, entry = self._resolve(inode)
        if entry is not None:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    @fuse_errors
    async def readdir(self, inode: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        """Offsets are stable: 1 for ctl, the pid for a process, the entry index inside one."""
        if self.debug:
            log.debug("readdir inode=%d from=%d", inode, start_id)
        if inode == ROOT_INODE:
            listing: list[tuple[int, bytes, int]] = [(1, b"ctl", ROOT_CTL_INODE)]
            listing += [(process.pid, str(process.pid).encode(), process.pid << ENTRY_BITS) for process in self.table]
        else:
            process, _ = self._resolve(inode)
            assert process is not None
            listing = [
                (index + 1, entry.name.encode(), (process.pid << ENTRY_BITS) | (index + 1))
                for index, entry in enumerate(PROCESS_ENTRIES)
            ]
        for offset, name, child in listing:
            if offset <= start_id:
                continue
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
        if inode == ROOT_CTL_INODE:
            self._check_owner(ctx, self._uid)
            source: OpenFile = ControlSource(ControlSession(root_commands(self.table)))
        else:
            process, entry = self._resolve(inode)
            if entry is None:
                raise pyfuse3.FUSEError(errno.EISDIR)
            assert process is not None
            if entry.writable or entry.mode & 0o077 == 0:
                self._check_owner(ctx, process.uid)
            if wants_write and not entry.writable and ctx.uid != 0:
                raise pyfuse3.FUSEError(errno.EACCES)
            source = entry.open(process)
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
