"""Who may read and write what: owners from the caller, maps behind the ptrace rule, /proc's errno for every refusal.

The daemon runs as root; readers run as nobody (65534) with ``setpriv``.  The
same probe (tests/helpers/proc_permissions.py) runs against the real /proc,
on a root process and on one of the caller's own, and against the mount, on
pid 1000 (the daemon's, so root's) and on a clone of the caller's own real
process: every answer must be the real one.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pyfuse3
import pytest

from fakeproc.fuse.fs import ROOT_INODE, ProcFs
from fakeproc.lab.daemon import Mount, mounted
from fakeproc.population import LAYOUTS
from fakeproc.process import Credentials, ProcessTable
from mountutil import REPO, require_fuse

NOBODY = 65534
PROBE = REPO / "tests" / "helpers" / "proc_permissions.py"
#: The system's python: the venv's lives under /root, which nobody cannot enter.
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"


def as_user(uid: int, gid: int, *argv: str) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *argv]


def probe(proc: Path | str, other: int | str, own: int | str, root_file: str, uid: int, gid: int) -> dict[str, str]:
    command = [SYSTEM_PYTHON, str(PROBE), str(proc), str(other), str(own), root_file]
    if uid != 0:
        command = as_user(uid, gid, *command)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())


@pytest.fixture(scope="module")
def open_mount() -> Iterator[Mount]:
    """A demo mount others may enter, under a directory they may cross (pytest's tmp dirs are 0700)."""
    require_fuse()
    base = Path(tempfile.mkdtemp(prefix="fakeproc-perm-"))
    base.chmod(0o755)
    try:
        with mounted(base, "--allow-other") as mount:
            yield mount
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def real_sleeper() -> Iterator[Callable[[int, int], int]]:
    """``start(uid, gid)``: the pid of a real process owned by them, killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(uid: int, gid: int) -> int:
        argv = ["sleep", "120"] if uid == 0 else as_user(uid, gid, "sleep", "120")
        started.append(subprocess.Popen(argv))
        # setpriv execs sleep; wait until the pid shows the new owner.
        for _ in range(500):
            if os.stat(f"/proc/{started[-1].pid}").st_uid == uid and Path(f"/proc/{started[-1].pid}/comm").read_text() == "sleep\n":
                return started[-1].pid
            subprocess.run(["sleep", "0.01"], check=True)
        raise TimeoutError("the sleeper never became sleep")

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.fuse
@pytest.mark.parametrize("uid, gid", [(0, 0), (NOBODY, NOBODY), (NOBODY, NOBODY - 1)],
                         ids=["root", "nobody", "nobody-other-gid"])
def test_every_refusal_is_the_real_procs(open_mount: Mount, real_sleeper: Callable[[int, int], int],
                                         uid: int, gid: int) -> None:
    real_root, real_own = real_sleeper(0, 0), real_sleeper(NOBODY, NOBODY)
    expected = probe("/proc", real_root, real_own, "meminfo", uid, gid)
    clone = open_mount.ctl(None, f"clone {real_own}")[0]
    try:
        seen = probe(open_mount.path, 1000, clone, "ctl", uid, gid)
    finally:
        open_mount.ctl(None, f"kill {clone}")
    differences = {operation: (seen.get(operation), answer) for operation, answer in expected.items()
                   if seen.get(operation) != answer}
    assert not differences, f"operation: (fakeproc, /proc): {differences}"


@pytest.mark.fuse
def test_a_clone_belongs_to_the_real_processs_owner(open_mount: Mount, real_sleeper: Callable[[int, int], int]) -> None:
    clone = open_mount.ctl(None, f"clone {real_sleeper(NOBODY, NOBODY - 1)}")[0]
    try:
        status = (open_mount.path / clone / "status").read_text()
        assert f"Uid:\t{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}\n" in status
        assert f"Gid:\t{NOBODY - 1}\t{NOBODY - 1}\t{NOBODY - 1}\t{NOBODY - 1}\n" in status
        ctl = os.stat(open_mount.path / clone / "ctl")
        assert (ctl.st_uid, ctl.st_gid) == (NOBODY, NOBODY - 1)
    finally:
        open_mount.ctl(None, f"kill {clone}")


@pytest.mark.fuse
def test_only_the_owner_uses_a_ctl_and_test_w_tells_the_truth(open_mount: Mount, real_sleeper: Callable[[int, int], int]) -> None:
    clone = open_mount.ctl(None, f"clone {real_sleeper(NOBODY, NOBODY)}")[0]
    script = (
        "import os, sys\n"
        "for pid in sys.argv[2:]:\n"
        "    ctl = f'{sys.argv[1]}/{pid}/ctl'\n"
        "    try:\n"
        "        os.truncate(ctl, 0); truncated = 'ok'\n"
        "    except OSError as error:\n"
        "        truncated = os.strerror(error.errno)\n"
        "    try:\n"
        "        fd = os.open(ctl, os.O_RDWR); os.write(fd, b'mmap 0 0x1000 rw- private,anonymous\\n')\n"
        "        written = os.read(fd, 100).decode().startswith('0x')\n"
        "    except OSError as error:\n"
        "        written = os.strerror(error.errno)\n"
        "    print(pid, os.access(ctl, os.W_OK), truncated, written)\n"
    )
    try:
        result = subprocess.run(as_user(NOBODY, NOBODY, SYSTEM_PYTHON, "-c", script, str(open_mount.path), "1000", clone),
                                capture_output=True, text=True, timeout=60)
    finally:
        open_mount.ctl(None, f"kill {clone}")
    assert result.stdout.splitlines() == [
        "1000 False Permission denied Permission denied",
        f"{clone} True ok True",
    ], result.stderr


def caller(uid: int, gid: int) -> pyfuse3.RequestContext:
    """What pyfuse3 hands a request: only uid, gid, pid and umask are read."""
    return SimpleNamespace(uid=uid, gid=gid, pid=os.getpid(), umask=0o022)  # type: ignore[return-value]


async def test_a_spawned_process_belongs_to_whoever_opened_the_root_ctl(monkeypatch: pytest.MonkeyPatch) -> None:
    # A non-root daemon cannot mount here (/dev/fuse is root's), so the
    # filesystem is driven directly with the requests such a daemon would get.
    monkeypatch.setattr(Credentials, "of_daemon", classmethod(lambda cls: cls(1234, 4321)))
    table = ProcessTable()
    LAYOUTS["demo"](table.spawn("population"))
    fs = ProcFs(table)
    user = caller(1234, 4321)
    root_ctl = await fs.lookup(ROOT_INODE, b"ctl")
    handle = (await fs.open(root_ctl.st_ino, os.O_RDWR, user)).fh
    await fs.write(handle, 0, b"spawn mine\n")
    pid = int(await fs.read(handle, 0, 100))
    assert (table.get(pid).uid, table.get(pid).gid) == (1234, 4321)
    assert (table.get(1000).uid, table.get(1000).gid) == (1234, 4321)
    directory = await fs.lookup(ROOT_INODE, str(pid).encode())
    ctl = await fs.lookup(directory.st_ino, b"ctl")
    assert (ctl.st_uid, ctl.st_gid) == (1234, 4321)
    owned = (await fs.open(ctl.st_ino, os.O_RDWR, user)).fh
    await fs.write(owned, 0, b"mmap 0 0x1000 rw- private,anonymous\n")
    assert (await fs.read(owned, 0, 100)).startswith(b"0x")
    with pytest.raises(pyfuse3.FUSEError) as refused:
        await fs.open(ctl.st_ino, os.O_RDWR, caller(1235, 4321))
    assert refused.value.errno == errno.EACCES
    # Root may use any daemon's root ctl, and owns what it spawns there.
    as_root = (await fs.open(root_ctl.st_ino, os.O_RDWR, caller(0, 0))).fh
    await fs.write(as_root, 0, b"spawn roots\n")
    assert table.get(int(await fs.read(as_root, 0, 100))).uid == 0
