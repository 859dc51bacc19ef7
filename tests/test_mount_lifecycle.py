"""A mount's life: every catchable terminating signal unmounts, and a busy mountpoint is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakeproc.lab.daemon import Mount, mounted
from fakeproc.mounts import is_mounted, mount_type
from mountutil import REPO

pytestmark = pytest.mark.fuse

#: Each one's default action ends the process; SIGINT and SIGTERM were handled before.
TERMINATING = [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
               signal.SIGVTALRM, signal.SIGPROF, signal.SIGXCPU, signal.SIGPWR, signal.SIGRTMIN]


@pytest.mark.parametrize("signum", TERMINATING, ids=lambda signum: signal.Signals(signum).name)
def test_terminating_signal_unmounts_cleanly(mount_factory: Callable[..., Mount], signum: int) -> None:
    mount = mount_factory("--population", "empty")
    mount.process.send_signal(signum)
    assert mount.process.wait(timeout=30) == 0
    assert not is_mounted(mount.path)
    assert f"fakeproc: unmounted {mount.path}" in mount.log.read_text()


def run_mount_py(mountpoint: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "mount.py"), str(mountpoint), "--population", "empty"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_second_daemon_refuses_a_live_mount(mount_factory: Callable[..., Mount]) -> None:
    first = mount_factory("--population", "empty")
    second = run_mount_py(first.path)
    assert second.returncode == 1
    assert second.stderr == f"fakeproc: {first.path} is already a mount point (fuse.fakeproc); unmount it first\n"
    pid = first.ctl(None, "spawn survivor")[0]
    assert sorted(os.listdir(first.path)) == sorted(["ctl", pid])
    assert first.stop() == 0
    assert not is_mounted(first.path)


@pytest.fixture
def tmpfs_mountpoint(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "fakeproc-test", str(mountpoint)], check=True, timeout=30)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, timeout=30)


def test_other_mounts_are_refused_and_left_alone(tmpfs_mountpoint: Path) -> None:
    result = run_mount_py(tmpfs_mountpoint)
    assert result.returncode == 1
    assert result.stderr == f"fakeproc: {tmpfs_mountpoint} is already a mount point (tmpfs); unmount it first\n"
    assert mount_type(tmpfs_mountpoint) == "tmpfs"


def test_a_bind_mount_with_a_space_in_its_path_is_seen(tmp_path: Path) -> None:
    mountpoint = tmp_path / "a dir"
    mountpoint.mkdir()
    assert mount_type(mountpoint) is None
    subprocess.run(["mount", "--bind", str(mountpoint), str(mountpoint)], check=True, timeout=30)
    try:
        assert mount_type(mountpoint) is not None and is_mounted(mountpoint)
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, timeout=30)


def test_a_stale_mount_is_still_cleared(tmp_path: Path) -> None:
    with mounted(tmp_path, "--population", "empty") as first:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        with mounted(tmp_path, "--population", "empty") as second:
            assert "cleared a stale mount" in second.log.read_text()
            assert os.listdir(second.path) == ["ctl"]
    assert not is_mounted(tmp_path / "mnt")
