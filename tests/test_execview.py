"""fakeproc exec: a command in a private mount namespace sees the mount as /proc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakeproc import execview
from fakeproc.lab.daemon import Mount
from fakeproc.process import PID_MAX_LIMIT
from mountutil import REPO
from procmap_tools import TIMEOUT, Tools, procmap  # noqa: F401  (procmap is a fixture)

pytestmark = pytest.mark.fuse

DEMO_PID = PID_MAX_LIMIT


def fakeproc_exec(mount: Path, *command: str, preload: Path | None = None, self_pid: int | None = None) -> subprocess.CompletedProcess[str]:
    """execview.run in a child, so that its output can be captured and its status seen."""
    script = (
        "import sys; from pathlib import Path; from fakeproc.execview import run; "
        "preload, self_pid = sys.argv[2], sys.argv[3]; "
        "sys.exit(run(sys.argv[1], sys.argv[4:], preload=Path(preload) if preload else None, "
        "self_pid=int(self_pid) if self_pid else None))"
    )
    argv = [sys.executable, "-c", script, str(mount), str(preload or ""), str(self_pid or ""), *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO)


def test_the_command_sees_the_mount_as_proc(proc_mount: Mount) -> None:
    inside = fakeproc_exec(proc_mount.path, "cat", f"/proc/{DEMO_PID}/maps")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout == (proc_mount.path / str(DEMO_PID) / "maps").read_text()
    listing = fakeproc_exec(proc_mount.path, "ls", "/proc")
    simulated = {name for name in os.listdir(proc_mount.path) if not name.isdigit() or int(name) >= PID_MAX_LIMIT}
    assert simulated <= set(listing.stdout.split())


def test_the_callers_proc_is_left_alone(proc_mount: Mount) -> None:
    assert fakeproc_exec(proc_mount.path, "true").returncode == 0
    with open("/proc/self/mounts") as mounts:
        kinds_on_proc = [line.split()[2] for line in mounts if line.split()[1] == "/proc"]
    assert kinds_on_proc and set(kinds_on_proc) == {"proc"}
    assert Path("/proc/self/stat").exists() and not Path(f"/proc/{DEMO_PID}/ctl").exists()


@pytest.mark.parametrize("script, status", [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 128 + 15)])
def test_the_commands_exit_status_is_kept(proc_mount: Mount, script: str, status: int) -> None:
    assert fakeproc_exec(proc_mount.path, "sh", "-c", script).returncode == status


def test_preload_and_self_reach_the_command(proc_mount: Mount, tmp_path: Path) -> None:
    library = tmp_path / "library.so"
    library.write_bytes(b"")  # never loaded: the command below only prints its environment
    shown = fakeproc_exec(proc_mount.path, "env", preload=library, self_pid=DEMO_PID)
    environment = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    assert environment[execview.SELF_VARIABLE] == str(DEMO_PID)
    assert environment["LD_PRELOAD"].split(":")[0] == str(library)


def test_procmap_query_works_inside(proc_mount: Mount, procmap: Tools) -> None:
    """Inside, /proc/self/fd is the caller's real fd directory, whose links name paths outside the view."""
    first_vma = (proc_mount.path / str(DEMO_PID) / "maps").read_text().split("-", 1)[0]
    outside = procmap.run("query", str(proc_mount.path / str(DEMO_PID) / "maps"), f"0x{first_vma}")
    inside = fakeproc_exec(proc_mount.path, str(procmap.client), "query", f"/proc/{DEMO_PID}/maps", f"0x{first_vma}",
                           preload=procmap.preload)
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.splitlines() == outside and f"start=0x{first_vma}" in outside[0]


def test_without_root_a_user_namespace_is_used(proc_mount: Mount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execview.os, "geteuid", lambda: 1000)
    argv = execview.namespace_argv(proc_mount.path, ["true"])
    assert argv[1:3] == ["--user", "--map-root-user"]
    assert subprocess.run(argv, timeout=TIMEOUT).returncode == 0


def test_cannot_run_says_why_in_one_line(proc_mount: Mount, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [
        (lambda: execview.run(tmp_path, ["true"]), "is not a mountpoint"),
        (lambda: execview.run(proc_mount.path, []), "no command given"),
        (lambda: execview.run(None, ["true"]), "no mount given"),
        (lambda: execview.run(proc_mount.path, ["true"], self_pid=0), "positive"),
        (lambda: execview.run(proc_mount.path, ["true"], preload=tmp_path / "missing.so"), "not built"),
    ]
    for attempt, reason in cases:
        assert attempt() == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("fakeproc exec: ") and reason in err
    monkeypatch.setenv("PATH", str(tmp_path))
    assert execview.run(proc_mount.path, ["true"]) == 1
    assert "unshare" in capsys.readouterr().err


def test_command_of_drops_the_separator() -> None:
    assert execview.command_of(["--", "ls", "--", "-l"]) == ["ls", "--", "-l"]
    assert execview.command_of(["ls"]) == ["ls"]
