"""The host's /proc, read-only, beside the simulated processes: every real pid and global file.

Each real path the kernel has looked up gets an inode of its own from
:class:`RealProcTree` (counted as FUSE counts lookups, dropped on forget), and
every request on it is answered from the real file at that moment: getattr is
an ``lstat``, a read a ``pread`` on a descriptor the daemon opened, a readlink
the real link's text.  Nothing is cached, so a read sees what the real /proc
holds at the time of the read.  Nothing is written: an open for writing and a
setattr fail with EROFS, as on a read-only bind of /proc.

The daemon reads with its own rights, so the tree answers only callers whose
uid is the daemon's or root (EACCES for others): a mount shared with
``allow_other`` never shows another user what they could not read themselves.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

import pyfuse3

from ..hostproc import HOST_PROC, ancestry, real_task
from ..process import ProcessTable

#: Real paths get inodes from here up, far above any (pid, slot) inode of the simulated tree.
FIRST_INODE = 1 << 56
#: Names of the real /proc root that the view answers itself.
OWN_ROOT_NAMES = frozenset({"self", "thread-self"})
#: Tools size their pid columns from it (top cuts 4194304 to "4194+"), so the view's covers the simulated pids.
PID_MAX = "sys/kernel/pid_max"


def check_caller(ctx: pyfuse3.RequestContext) -> None:
    """EACCES unless the caller is root or the daemon's own user (the rights the real files are read with)."""
    if ctx.uid not in (0, os.getuid()):
        raise pyfuse3.FUSEError(errno.EACCES)


def _os_error(error: OSError) -> pyfuse3.FUSEError:
    return pyfuse3.FUSEError(error.errno or errno.EIO)


@dataclass
class _Known:
    path: str
    lookups: int


class RealFile:
    """An open real /proc file: each read is a pread at the reader's offset, so seq_files behave as the host's."""

    nonseekable = False

    def __init__(self, path: str) -> None:
        # O_NONBLOCK: a file that would block (kmsg) answers EAGAIN instead of stalling every request.
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.seekable = True

    async def read(self, offset: int, size: int) -> bytes:
        if self.seekable:
            try:
                return os.pread(self.fd, size, offset)
            except OSError as error:
                if error.errno != errno.ESPIPE:
                    raise
                self.seekable = False
        return os.read(self.fd, size)

    async def write(self, data: bytes) -> int:
        raise pyfuse3.FUSEError(errno.EROFS)

    def close(self) -> None:
        os.close(self.fd)


class PidMaxFile(RealFile):
    """``kernel.pid_max`` as the view needs it: the host's, raised above the highest simulated pid."""

    def __init__(self, path: str, table: ProcessTable) -> None:
        super().__init__(path)
        self.table = table
        self.text = b""

    async def read(self, offset: int, size: int) -> bytes:
        if offset == 0 or not self.text:
            host = int(os.pread(self.fd, 32, 0))
            self.text = b"%d\n" % max(host, self.table.highest_pid + 1)
        return self.text[offset : offset + size]


class RealProcTree:
    """Inodes for real /proc paths, counted like the kernel's lookups so memory follows what it holds."""

    def __init__(self, table: ProcessTable, root: str = HOST_PROC) -> None:
        self.table = table
        self.root = root
        self._by_path: dict[str, int] = {}
        self._known: dict[int, _Known] = {}
        self._next_inode = FIRST_INODE

    def __len__(self) -> int:
        return len(self._known)

    @staticmethod
    def owns(inode: int) -> bool:
        return inode >= FIRST_INODE

    def path(self, inode: int) -> str:
        """The real path of a known inode, or ENOENT.  O(1)."""
        known = self._known.get(inode)
        if known is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return known.path

    def child_path(self, parent: int | None, name: str) -> str:
        """The real path of ``name`` in ``parent`` (None: the root).  O(1)."""
        if "/" in name or name in (".", ".."):
            raise pyfuse3.FUSEError(errno.ENOENT)
        return f"{self.root if parent is None else self.path(parent)}/{name}"

    def acquire(self, path: str) -> int:
        """The inode of ``path``, counting one more lookup the kernel now holds.  O(1)."""
        inode = self._by_path.get(path)
        if inode is None:
            inode = self._next_inode
            self._next_inode += 1
            self._by_path[path] = inode
            self._known[inode] = _Known(path, 0)
        self._known[inode].lookups += 1
        return inode

    def forget(self, inode: int, lookups: int) -> None:
        """The kernel dropped ``lookups`` references; at zero the inode is forgotten.  O(1)."""
        known = self._known.get(inode)
        if known is None:
            return
        known.lookups -= lookups
        if known.lookups <= 0:
            del self._known[inode]
            del self._by_path[known.path]

    def attributes(self, inode: int, path: str) -> pyfuse3.EntryAttributes:
        """``lstat`` of the real file under our inode number; the real errno if it is gone."""
        try:
            info = os.lstat(path)
        except OSError as error:
            raise _os_error(error) from None
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = inode
        attrs.st_mode = info.st_mode
        attrs.st_nlink = info.st_nlink
        attrs.st_uid, attrs.st_gid = info.st_uid, info.st_gid
        attrs.st_size = info.st_size
        attrs.st_blksize = 4096
        attrs.st_atime_ns, attrs.st_mtime_ns, attrs.st_ctime_ns = info.st_atime_ns, info.st_mtime_ns, info.st_ctime_ns
        attrs.entry_timeout = 0
        attrs.attr_timeout = 0
        return attrs

    def lookup(self, parent: int | None, name: str) -> pyfuse3.EntryAttributes:
        """Look ``name`` up in a real directory (None: the root), counting the lookup only if it exists."""
        path = self.child_path(parent, name)
        if parent is None and name in OWN_ROOT_NAMES:
            raise pyfuse3.FUSEError(errno.ENOENT)
        attrs = self.attributes(0, path)
        attrs.st_ino = self.acquire(path)
        return attrs

    def exists(self, parent: int | None, name: str) -> bool:
        """Whether ``name`` is in a real directory now, without counting a lookup.  O(1)."""
        if parent is None and name in OWN_ROOT_NAMES:
            return False
        try:
            return os.path.lexists(self.child_path(parent, name))
        except pyfuse3.FUSEError:
            return False

    def names(self, directory: int | None) -> list[str]:
        """The real directory's names now (None: the root, less the names the view answers itself)."""
        path = self.root if directory is None else self.path(directory)
        try:
            names = sorted(os.listdir(path))
        except OSError as error:
            raise _os_error(error) from None
        return [name for name in names if directory is not None or name not in OWN_ROOT_NAMES]

    def open(self, inode: int, flags: int) -> RealFile:
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            raise pyfuse3.FUSEError(errno.EROFS)
        path = self.path(inode)
        try:
            return PidMaxFile(path, self.table) if path == f"{self.root}/{PID_MAX}" else RealFile(path)
        except OSError as error:
            raise _os_error(error) from None

    def readlink(self, inode: int) -> bytes:
        try:
            return os.readlink(os.fsencode(self.path(inode)))
        except OSError as error:
            raise _os_error(error) from None


def self_link(table: ProcessTable, ctx: pyfuse3.RequestContext, thread: bool) -> str:
    """What /proc/self (or thread-self) says to the calling thread ``ctx.pid``.

    The simulated process claimed for the caller's process or its nearest
    claimed ancestor (``fakeproc exec --self``); otherwise the caller's own
    real directory.  Not cached: a claim lasts exactly as long as the process
    that was registered, and a lookup of ``self`` costs O(depth of the
    process tree) small reads only while some claim exists.
    """
    if table.has_self_views:
        for task in ancestry(ctx.pid):
            process = table.self_of(task.tgid, task.start)
            if process is not None:
                return f"{process.pid}/task/{process.pid}" if thread else str(process.pid)
    task = real_task(ctx.pid)
    if task is None:
        raise pyfuse3.FUSEError(errno.ENOENT)
    return f"{task.tgid}/task/{task.tid}" if thread else str(task.tgid)
