"""The fakeproc command line, stale-mount recovery and permissions under --allow-other."""

from __future__ import annotations

import json
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
SUBCOMMANDS = ["mount", "ps", "spawn", "kill", "clone", "mmap", "munmap", "mprotect", "mremap", "query", "touch", "info"]


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
    # Like shell tools, the commands whose only result is 0 print nothing on success.
    assert fakeproc(demo_mount, "mprotect", pid, hex(addr), "0x1000", "r--").stdout == ""
    queried = fakeproc(demo_mount, "query", pid, hex(addr + 0x1000))
    assert queried.stdout.startswith(f"{addr + 0x1000:08x}-{addr + 0x4000:08x} rw-p")
    moved = fakeproc(demo_mount, "mremap", pid, hex(addr + 0x1000), "0x3000", "0x6000", "maymove")
    assert moved.returncode == 0 and moved.stdout.startswith("0x")
    for quiet in (("touch", pid, hex(addr), "0x1000"), ("munmap", pid, hex(addr), "0x1000"), ("kill", pid)):
        result = fakeproc(demo_mount, *quiet)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), quiet


def test_cli_errors_exit_nonzero_with_a_message(demo_mount: Mount) -> None:
    failed = fakeproc(demo_mount, "mmap", "1000", "0x1001", "0x1000", "rw-", "private,anonymous,fixed")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("fakeproc: mmap: error: EINVAL ")
    missing = fakeproc(demo_mount, "munmap", "4242", "0", "0x1000")
    assert (missing.returncode, missing.stderr) == (1, "fakeproc: munmap: no such process 4242\n")
    usage = fakeproc(demo_mount, "munmap", "1000")
    assert usage.returncode == 2 and "usage:" in usage.stderr
    not_a_mount = fakeproc(None, "--mount", str(REPO), "ps")
    assert (not_a_mount.returncode, not_a_mount.stderr) == (1, f"fakeproc: ps: {REPO} is not a fakeproc mount (it has no ctl file)\n")


def test_mmap_names_only_the_missing_words() -> None:
    result = fakeproc(None, "mmap", "1000", "0", "4096", "rw-")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "fakeproc mmap: error: the following arguments are required: FLAGS"


def test_a_file_mapping_offset_defaults_to_zero(demo_mount: Mount) -> None:
    mapped = fakeproc(demo_mount, "mmap", "1000", "0", "0x1000", "r--", "private", "/bin/sh")
    assert mapped.returncode == 0, mapped.stderr
    queried = fakeproc(demo_mount, "query", "1000", mapped.stdout.strip())
    assert queried.stdout.split()[2] == "00000000" and queried.stdout.rstrip().endswith(os.path.realpath("/bin/sh"))


def test_mount_is_taken_after_the_subcommand(demo_mount: Mount) -> None:
    result = fakeproc(None, "query", "1000", "0", "covering_or_next", "--mount", str(demo_mount.path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("/usr/bin/bash\n")


def test_ps_lists_every_process_with_its_workload(demo_mount: Mount) -> None:
    table = fakeproc(demo_mount, "ps")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0] == ["PID", "VMAS", "SIZE_KB", "LOCK", "WORKLOAD", "RATE", "COMM"]
    assert [(row[0], row[3], row[4], row[5], row[6]) for row in rows[1:]] == [
        ("1000", "vma", "-", "-", "bash"),
        ("1001", "vma", "-", "-", "many-vmas"),
        ("1002", "vma", "mapper:64", "4/s", "mapper"),
        ("1003", "vma", "toggler:split", "2/s", "toggler-split"),
    ]
    assert rows[1][1:3] == ["25", "4844"] and rows[2][1] == "1500"
    listed = json.loads(fakeproc(demo_mount, "ps", "--json").stdout)
    assert listed[0] == {"pid": 1000, "comm": "bash", "vmas": 25, "size_kb": 4844, "lock": "vma",
                         "workload": None, "rate": None}
    assert [(entry["workload"], entry["rate"]) for entry in listed[2:]] == [("mapper:64", 4.0), ("toggler:split", 2.0)]


#: Runs in a mount namespace of its own, where no other fakeproc mount is visible: the test
#: then knows exactly which mounts the table holds.  Prints one "=== STEP rc" line per step.
AUTODETECT = r"""
set -u
for m in $(awk '$3 == "fuse.fakeproc" {print $2}' /proc/self/mounts); do umount -l "$(printf '%b' "$m")" || true; done
daemons=()
trap 'kill "${daemons[@]}" 2>/dev/null; wait' EXIT
step() { local name=$1; shift; "$@"; echo "=== $name $?"; }
start() {
    mkdir -p "$1"; rm -f "$1.ready"
    "$PY" "$REPO/mount.py" "$1" --population empty --ready-file "$1.ready" >/dev/null 2>&1 &
    daemons+=($!)
    for _ in $(seq 300); do [ -s "$1.ready" ] && return; sleep 0.1; done
    echo "=== $1 not ready"; exit 1
}
cli() { "$PY" -m fakeproc.cli "$@"; }
step none cli spawn
start "$BASE/one"
step one cli spawn
start "$BASE/two mnt"
step two cli spawn
step chosen env FAKEPROC_MOUNT="$BASE/two mnt" "$PY" -m fakeproc.cli spawn
"""


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_the_mount_is_found_in_the_mount_table(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "FAKEPROC_MOUNT"}
    env.update(PY=sys.executable, REPO=str(REPO), BASE=str(tmp_path))
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", AUTODETECT],
                            capture_output=True, text=True, timeout=120, env=env, cwd=REPO, start_new_session=True)
    lines = result.stdout.splitlines()
    statuses = [line.split()[1:] for line in lines if line.startswith("=== ")]
    assert statuses == [["none", "2"], ["one", "0"], ["two", "2"], ["chosen", "0"]], result.stdout + result.stderr
    # Each mount numbers its own processes: the one found, then the one named among two.
    assert [line for line in lines if not line.startswith("=== ")] == ["1000", "1000"]
    assert result.stderr == (
        "fakeproc: no fakeproc mount found: start one with ./scripts/run [MOUNTPOINT] (or fakeproc mount MNT), "
        "or name one with --mount MNT or FAKEPROC_MOUNT=MNT\n"
        "fakeproc: 2 fakeproc mounts; choose one with --mount MNT or FAKEPROC_MOUNT=MNT:\n"
        f"    {tmp_path}/one\n    {tmp_path}/two mnt\n"
    )


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
