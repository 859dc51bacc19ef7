"""The filesystem's directories without a mount: the root's entry table and the inode scheme."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Awaitable
from types import SimpleNamespace
from typing import Any

import pyfuse3
import pytest

from fakeproc.fuse.fs import PROCESS_ENTRIES, ROOT_INODE, Entry, EntryTable, ProcFs
from fakeproc.fuse.reader_stats import ReaderStats
from fakeproc.process import Process, ProcessTable

OWNER = SimpleNamespace(uid=os.getuid(), gid=os.getgid(), pid=os.getpid())


async def fuse_errno(request: Awaitable[Any]) -> int:
    with pytest.raises(pyfuse3.FUSEError) as failure:
        await request
    return failure.value.errno


async def test_root_ctl_is_an_entry_of_the_root_table() -> None:
    table = ProcessTable()
    fs = ProcFs(table)
    ctl = await fs.lookup(ROOT_INODE, b"ctl")
    assert stat.S_ISREG(ctl.st_mode) and stat.S_IMODE(ctl.st_mode) == 0o600
    assert (ctl.st_uid, ctl.st_gid) == (os.getuid(), os.getgid())
    assert (await fs.getattr(ctl.st_ino)).st_mode == ctl.st_mode
    assert await fuse_errno(fs.lookup(ctl.st_ino, b"x")) == errno.ENOTDIR
    assert await fuse_errno(fs.opendir(ctl.st_ino, OWNER)) == errno.ENOTDIR

    info = await fs.open(ctl.st_ino, os.O_RDWR, OWNER)
    await fs.write(info.fh, 0, b"spawn worker\n")
    pid = int(await fs.read(info.fh, 0, 100))
    assert table.get(pid).comm == "worker"


async def test_root_lists_its_entries_then_a_directory_per_process() -> None:
    table = ProcessTable()
    fs = ProcFs(table)
    first, second = table.spawn("first"), table.spawn("second")
    ctl = await fs.lookup(ROOT_INODE, b"ctl")
    directories = [await fs.lookup(ROOT_INODE, str(process.pid).encode()) for process in (first, second)]
    assert list(fs.listing(ROOT_INODE)) == [
        (1, b"ctl", ctl.st_ino),
        (first.pid, str(first.pid).encode(), directories[0].st_ino),
        (second.pid, str(second.pid).encode(), directories[1].st_ino),
    ]
    root = await fs.getattr(ROOT_INODE)
    assert stat.S_ISDIR(root.st_mode) and root.st_nlink == 2 + 2
    assert await fuse_errno(fs.open(ROOT_INODE, os.O_RDONLY, OWNER)) == errno.EISDIR
    for name in (b"0", b"999", b"1000x", b"self", b"nosuchfile"):
        assert await fuse_errno(fs.lookup(ROOT_INODE, name)) == errno.ENOENT


async def test_process_directory_lists_its_table_at_slot_offsets() -> None:
    table = ProcessTable()
    fs = ProcFs(table)
    process = table.spawn("p", uid=OWNER.uid)
    directory = await fs.lookup(ROOT_INODE, str(process.pid).encode())
    assert directory.st_nlink == 3
    listing = list(fs.listing(directory.st_ino))
    assert [(offset, name) for offset, name, _ in listing] == [
        (slot, entry.name.encode()) for slot, entry in enumerate(PROCESS_ENTRIES.entries, 1)
    ] + [(len(PROCESS_ENTRIES) + 1, b"task")]
    for _, name, inode in listing:
        assert (await fs.lookup(directory.st_ino, name)).st_ino == inode
    assert (await fs.lookup(directory.st_ino, b"..")).st_ino == ROOT_INODE


class NamedSource:
    """A file whose content says which process and entry it was opened as."""

    nonseekable = False

    def __init__(self, process: Process, name: str) -> None:
        self.content = f"{process.pid}/{name}".encode()

    async def read(self, offset: int, size: int) -> bytes:
        return self.content[offset : offset + size]

    async def write(self, data: bytes) -> int:
        raise AssertionError("read-only")

    def close(self) -> None:
        return None


def named_entry(name: str) -> Entry[Process]:
    def open_named(process: Process, _: ReaderStats) -> NamedSource:
        return NamedSource(process, name)

    return Entry(name, 0o444, open_named)


async def test_a_directory_far_larger_than_today_resolves_every_entry_uniquely() -> None:
    many = EntryTable([named_entry(f"file{number:03d}") for number in range(200)])
    table = ProcessTable()
    fs = ProcFs(table, process_entries=many)
    processes = [table.spawn(f"p{number}") for number in range(4)]
    inodes = {ROOT_INODE: "/", (await fs.lookup(ROOT_INODE, b"ctl")).st_ino: "/ctl"}
    for process in processes:
        directory = (await fs.lookup(ROOT_INODE, str(process.pid).encode())).st_ino
        assert directory not in inodes
        inodes[directory] = f"{process.pid}/"
        for _, entry in many:
            inode = (await fs.lookup(directory, entry.name.encode())).st_ino
            assert inode not in inodes, f"{process.pid}/{entry.name} reuses the inode of {inodes[inode]}"
            inodes[inode] = f"{process.pid}/{entry.name}"
            # The inode alone finds the file again: the one of this process and this name.
            info = await fs.open(inode, os.O_RDONLY, OWNER)
            assert await fs.read(info.fh, 0, 100) == f"{process.pid}/{entry.name}".encode()
            await fs.release(info.fh)
    assert len(inodes) == 2 + len(processes) * (1 + len(many))


async def test_inodes_hold_while_the_process_lives_and_die_with_it() -> None:
    table = ProcessTable()
    fs = ProcFs(table)
    kept, killed = table.spawn("kept"), table.spawn("killed")

    async def maps_inode(process: Process) -> int:
        directory = await fs.lookup(ROOT_INODE, str(process.pid).encode())
        return (await fs.lookup(directory.st_ino, b"maps")).st_ino

    before = await maps_inode(kept)
    doomed = await maps_inode(killed)
    table.kill(killed.pid)
    table.spawn("newcomer")
    assert await maps_inode(kept) == before
    assert await fuse_errno(fs.getattr(doomed)) == errno.ENOENT
    assert doomed not in {inode for _, _, inode in fs.listing(ROOT_INODE)}
