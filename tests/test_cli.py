"""The fakeproc command line, stale-mount recovery and permissions under --allow-other."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fakeproc import cli
from fakeproc.lab.daemon import Mount, mounted
from fakeproc.mounts import is_mounted
from mountutil import REPO

pytestmark = pytest.mark.fuse

FAKEPROC = [sys.executable, "-m", "fakeproc.cli"]
SUBCOMMANDS = ["mount", "spawn", "kill", "clone", "mmap", "munmap", "mprotect", "mremap", "query", "touch"]


def fakeproc(mount: Mount | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("FAKEPROC_MOUNT", None)
    if mount is not None:
        env["FAKEPROC_MOUNT"] = str(mount.path)
    return subprocess.run([*FAKEPROC, *args], capture_output=True, text=True, timeout=60, env=env, cwd=REPO)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    result = fakeproc(None, command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


@pytest.mark.slow
def test_cli_round_trip(demo_mount: Mount) -> None:
    spawned = fakeproc(demo_mount, "spawn", "clitest")
    assert spawned.returncode == 0, spawned.stderr
    pid = spawned.stdout.strip()
    mapped = fakeproc(demo_mount, "mmap", pid, "0", "0x4000", "rw-", "private,anonymous")
    assert mapped.returncode == 0 and mapped.stdout.startswith("0x")
    addr = int(mapped.stdout, 16)
    assert fakeproc(demo_mount, "mprotect", pid, hex(addr), "0x1000", "r--").stdout == "0\n"
    queried = fakeproc(demo_mount, "query", pid, hex(addr + 0x1000))
    assert queried.stdout.startswith(f"{addr + 0x1000:08x}-{addr + 0x4000:08x} rw-p")
    moved = fakeproc(demo_mount, "mremap", pid, hex(addr + 0x1000), "0x3000", "0x6000", "maymove")
    assert moved.returncode == 0 and moved.stdout.startswith("0x")
    assert fakeproc(demo_mount, "touch", pid, hex(addr), "0x1000").returncode == 0
    assert fakeproc(demo_mount, "munmap", pid, hex(addr), "0x1000").stdout == "0\n"
    assert fakeproc(demo_mount, "kill", pid).stdout == "0\n"


def test_cli_errors_exit_nonzero_with_a_message(demo_mount: Mount) -> None:
    failed = fakeproc(demo_mount, "mmap", "1000", "0x1001", "0x1000", "rw-", "private,anonymous,fixed")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("fakeproc: mmap: error: EINVAL ")
    missing = fakeproc(demo_mount, "munmap", "4242", "0", "0x1000")
    assert missing.returncode == 1 and "No such file" in missing.stderr
    nomount = fakeproc(None, "spawn")
    assert nomount.returncode == 2 and "FAKEPROC_MOUNT" in nomount.stderr
    usage = fakeproc(demo_mount, "munmap", "1000")
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_fakeproc_mount_is_mount_py(tmp_path: Path) -> None:
    with mounted(tmp_path, "--population", "empty", command=[*FAKEPROC, "mount"], ready_timeout=30) as mount:
        assert os.listdir(mount.path) == ["ctl"]
    out = mount.log.read_text()
    assert f"fakeproc: mounted at {mount.path}" in out and f"fakeproc: unmounted {mount.path}" in out


def test_stale_mount_is_cleared(tmp_path: Path) -> None:
    with mounted(tmp_path) as mount:
        mount.process.send_signal(signal.SIGKILL)
        mount.process.wait(timeout=15)
        with pytest.raises(OSError):
            os.stat(mount.path)
        with mounted(tmp_path, "--population", "empty") as second:
            assert os.listdir(second.path) == ["ctl"]
            assert "cleared a stale mount" in second.log.read_text()
    assert not is_mounted(tmp_path / "mnt")


def test_allow_other_keeps_ctl_private() -> None:
    # pytest's tmp_path lives under a 0700 directory that another user cannot cross.
    base = Path(tempfile.mkdtemp(prefix="fakeproc-other-"))
    base.chmod(0o755)
    try:
        _check_other_user(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _check_other_user(base: Path) -> None:
    with mounted(base, "--allow-other") as mount:
        probe = (
            "import os, sys\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "m = sys.argv[1]\n"
            "print(open(m + '/1000/status').readline().split()[1])\n"
            "for path in (m + '/ctl', m + '/1000/ctl'):\n"
            "    try:\n"
            "        os.open(path, os.O_RDWR); print('opened', path)\n"
            "    except PermissionError:\n"
            "        print('denied')\n"
        )
        result = subprocess.run([sys.executable, "-c", probe, str(mount.path)], capture_output=True, text=True, timeout=30)
        assert result.stdout.split() == ["bash", "denied", "denied"], result.stdout + result.stderr


def test_fuse_unavailable_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda path: path != "/dev/fuse" and real_exists(path))
    assert cli.main(["mount", str(tmp_path), "--population", "empty"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("fakeproc: FUSE is unavailable: /dev/fuse")
    assert not is_mounted(tmp_path)


def test_debug_logs_each_request(tmp_path: Path) -> None:
    with mounted(tmp_path, "--population", "empty", "--debug") as mount:
        os.listdir(mount.path)
        mount.ctl(None, "spawn logged")
    log = mount.log.read_text()
    for request in ("readdir inode=1", "lookup parent=1 name='ctl'", "open inode=2", "write fh=", "read fh="):
        assert request in log, request


@pytest.mark.parametrize("option, value, message", [
    ("--lock-mode", "rcu", "lock mode 'rcu' is not one of"),
    ("--preempt", "slice:abc", "preemption policy 'slice:abc'"),
    ("--workload", "toggler:twist", "workload 'toggler:twist'"),
])
def test_bad_mount_options_are_usage_errors(tmp_path: Path, option: str, value: str, message: str) -> None:
    result = subprocess.run([sys.executable, str(REPO / "mount.py"), str(tmp_path), option, value],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr
    assert not is_mounted(tmp_path)


def test_clone_of_a_missing_pid_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "mount.py"), str(tmp_path), "--clone", "4194304"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and result.stderr == "fakeproc: no real process 4194304\n"
    assert not is_mounted(tmp_path)
