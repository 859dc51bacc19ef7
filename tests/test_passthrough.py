"""The host's /proc inside the filesystem, without a mount: lookups counted, nothing written, self per caller."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Awaitable, Iterator
from types import SimpleNamespace
from typing import Any

import pyfuse3
import pytest

from fakeproc.ctl import root_session
from fakeproc.fuse.fs import ROOT_INODE, ProcFs
from fakeproc.hostproc import real_task
from fakeproc.process import PID_MAX_LIMIT, ProcessTable

TIMEOUT = 60


def caller(pid: int = os.getpid(), uid: int = os.getuid()) -> SimpleNamespace:
    return SimpleNamespace(pid=pid, uid=uid, gid=os.getgid())


async def fuse_errno(request: Awaitable[Any]) -> int:
    with pytest.raises(pyfuse3.FUSEError) as failure:
        await request
    return failure.value.errno


def passthrough_fs() -> tuple[ProcFs, ProcessTable]:
    table = ProcessTable(first_pid=PID_MAX_LIMIT)
    return ProcFs(table, passthrough=True), table


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A real child of this test, so that its ancestry leads here."""
    process = subprocess.Popen(["sleep", "600"])
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)


async def test_real_entries_keep_one_inode_per_path_until_forgotten() -> None:
    fs, _ = passthrough_fs()
    assert fs.real is not None
    first = await fs.lookup(ROOT_INODE, b"meminfo", caller())
    again = await fs.lookup(ROOT_INODE, b"meminfo", caller())
    assert first.st_ino == again.st_ino and len(fs.real) == 1
    fs.forget([(first.st_ino, 1)])
    assert (await fs.getattr(first.st_ino, caller())).st_ino == first.st_ino
    fs.forget([(first.st_ino, 1)])
    assert len(fs.real) == 0
    assert await fuse_errno(fs.getattr(first.st_ino, caller())) == errno.ENOENT


async def test_a_real_file_reads_at_read_time_and_refuses_writes() -> None:
    fs, _ = passthrough_fs()
    pid_dir = await fs.lookup(ROOT_INODE, str(os.getpid()).encode(), caller())
    assert stat.S_ISDIR(pid_dir.st_mode) and pid_dir.st_uid == os.getuid()
    status = await fs.lookup(pid_dir.st_ino, b"status", caller())
    info = await fs.open(status.st_ino, os.O_RDONLY, caller())
    try:
        assert (await fs.read(info.fh, 0, 4096)).startswith(b"Name:")
    finally:
        await fs.release(info.fh)
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
        assert await fuse_errno(fs.open(status.st_ino, flags, caller())) == errno.EROFS
    fields = pyfuse3.SetattrFields()
    assert await fuse_errno(fs.setattr(status.st_ino, pyfuse3.EntryAttributes(), fields, None, caller())) == errno.EROFS
    exe = await fs.lookup(pid_dir.st_ino, b"exe", caller())
    assert await fs.readlink(exe.st_ino, caller()) == os.readlink(f"/proc/{os.getpid()}/exe").encode()


async def test_the_host_proc_is_never_removed_or_renamed_through_the_view() -> None:
    """Names of the passed-through /proc are EROFS to unlink, rmdir and rename, not ENOENT; missing ones stay ENOENT."""
    fs, _ = passthrough_fs()
    pid_dir = await fs.lookup(ROOT_INODE, str(os.getpid()).encode(), caller())
    for parent, name in ((ROOT_INODE, b"meminfo"), (ROOT_INODE, str(os.getpid()).encode()), (pid_dir.st_ino, b"status")):
        assert await fuse_errno(fs.unlink(parent, name, caller())) == errno.EROFS
        assert await fuse_errno(fs.rmdir(parent, name, caller())) == errno.EROFS
        assert await fuse_errno(fs.rename(ROOT_INODE, b"x", parent, name, 0, caller())) == errno.EROFS
    for parent, name in ((ROOT_INODE, b"no-such-file"), (pid_dir.st_ino, b"no-such-file")):
        assert await fuse_errno(fs.unlink(parent, name, caller())) == errno.ENOENT


async def test_another_user_is_refused_what_the_daemon_could_read_for_them() -> None:
    fs, _ = passthrough_fs()
    stranger = caller(uid=os.getuid() + 12345 if os.getuid() else 12345)
    assert await fuse_errno(fs.lookup(ROOT_INODE, b"meminfo", stranger)) == errno.EACCES
    assert await fuse_errno(fs.opendir(ROOT_INODE, stranger)) == errno.EACCES


async def test_the_root_lists_simulated_then_real_entries_without_the_hosts_self() -> None:
    fs, table = passthrough_fs()
    simulated = table.spawn("sim")
    handle = await fs.opendir(ROOT_INODE, caller())
    try:
        names = [name for name, _ in fs._listings[handle]]
    finally:
        await fs.releasedir(handle)
    assert names[:4] == ["ctl", "self", "thread-self", str(simulated.pid)]
    assert names.count("self") == 1 and "meminfo" in names and str(os.getpid()) in names


async def test_self_is_the_caller_unless_a_claim_covers_it(child: subprocess.Popen[bytes]) -> None:
    fs, table = passthrough_fs()
    simulated = table.spawn("sim")
    self_link = await fs.lookup(ROOT_INODE, b"self", caller())
    thread_self = await fs.lookup(ROOT_INODE, b"thread-self", caller())
    assert stat.S_ISLNK(self_link.st_mode)
    assert await fs.readlink(self_link.st_ino, caller(child.pid)) == str(child.pid).encode()
    assert await fs.readlink(thread_self.st_ino, caller(child.pid)) == f"{child.pid}/task/{child.pid}".encode()

    # A claim on this test process covers its child, and ends when the claimed process does.
    session = root_session(table)
    await session.write(f"self {os.getpid()} {simulated.pid}\n".encode())
    assert session.read(100) == b"0\n"
    assert await fs.readlink(self_link.st_ino, caller(child.pid)) == str(simulated.pid).encode()
    assert await fs.readlink(thread_self.st_ino, caller()) == f"{simulated.pid}/task/{simulated.pid}".encode()
    table.kill(simulated.pid)
    assert await fs.readlink(self_link.st_ino, caller(child.pid)) == str(child.pid).encode()


@pytest.mark.parametrize("line, reason", [("self 1 {sim}x", errno.EINVAL), ("self {dead} {sim}", errno.ESRCH),
                                          ("self {me} 12", errno.ESRCH), ("self {me}", errno.EINVAL)])
async def test_a_bad_claim_is_refused_and_changes_nothing(line: str, reason: int) -> None:
    fs, table = passthrough_fs()
    simulated = table.spawn("sim")
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=TIMEOUT)
    session = root_session(table)
    with pytest.raises(OSError) as failure:
        await session.write(line.format(sim=simulated.pid, dead=dead.pid, me=os.getpid()).encode() + b"\n")
    assert failure.value.errno == reason
    assert not table.has_self_views


def test_a_threads_ancestry_starts_at_its_process() -> None:
    task = real_task(os.getpid())
    assert task is not None and task.tgid == os.getpid() and task.ppid == os.getppid() and task.start > 0
