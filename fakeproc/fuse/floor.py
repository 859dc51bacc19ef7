"""The transport floor: a minimal pyfuse3 filesystem whose files are constant 4 KiB pages.

``<mnt>/<N>`` is a file of N bytes of ``x``, served like a seq_file: direct
I/O, size 0 in ``stat``, at most one 4 KiB page per read request.  Reading
it costs what any pyfuse3 file of that length costs, with no rendering.

Usage: python -m fakeproc.fuse.floor MNT [--ready-file F]   (SIGTERM or SIGINT unmounts)
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import stat
from pathlib import Path

import pyfuse3
import trio

PAGE = b"x" * 4096
#: File inodes are the byte count plus this (the root is inode 1).
BASE_INODE = 2


class FloorFs(pyfuse3.Operations):
    enable_writeback_cache = False

    def _attributes(self, inode: int) -> pyfuse3.EntryAttributes:
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = inode
        attrs.st_mode = (stat.S_IFDIR | 0o555) if inode == pyfuse3.ROOT_INODE else (stat.S_IFREG | 0o444)
        attrs.st_nlink = 1
        attrs.st_size = 0
        attrs.st_blksize = 4096
        attrs.st_uid, attrs.st_gid = os.getuid(), os.getgid()
        return attrs

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        return self._attributes(inode)

    async def lookup(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        if parent_inode != pyfuse3.ROOT_INODE or not name.isdigit():
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attributes(int(name) + BASE_INODE)

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        return inode

    async def readdir(self, inode: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        return None

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        return pyfuse3.FileInfo(fh=inode, direct_io=True, keep_cache=False)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        left = fh - BASE_INODE - off
        return PAGE[: min(size, len(PAGE), left)] if left > 0 else b""


async def serve(mountpoint: str, ready_file: Path | None) -> None:
    options = set(pyfuse3.default_options)
    options.discard("default_permissions")
    options |= {"fsname=fakeproc-floor", "subtype=fakeproc-floor"}
    pyfuse3.init(FloorFs(), mountpoint, options)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pyfuse3.main)
            if ready_file is not None:
                ready_file.write_text(f"{os.getpid()}\n")
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
    finally:
        pyfuse3.close(unmount=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mountpoint")
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    trio.run(serve, args.mountpoint, args.ready_file)


if __name__ == "__main__":
    main()
