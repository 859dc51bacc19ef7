"""What a user types in the shell: scripts/run and scripts/setup, run as subprocesses."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "scripts" / "run"
SETUP = REPO / "scripts" / "setup"
READY_TIMEOUT = 60.0

requires_fuse = pytest.mark.skipif(
    not (os.path.exists("/dev/fuse") and shutil.which("fusermount3")), reason="needs /dev/fuse and fusermount3"
)


def _is_mounted(path: Path) -> bool:
    with open("/proc/mounts") as mounts:
        return any(line.split()[1] == str(path) for line in mounts)


def _script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment, with the fakeproc command going to a private folder, not /usr/local/bin."""
    env = {key: value for key, value in os.environ.items() if key != "FAKEPROC_MOUNT"}
    return {**env, "FAKEPROC_BIN_DIR": str(tmp_path / "bin"), **extra}


@contextmanager
def running(args: list[str], mountpoint: Path, ready: Path, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """scripts/run ARGS until the daemon writes ``ready``; always stopped and unmounted after."""
    log = cwd / f"run-{time.monotonic_ns()}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(RUN), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.exists():
            if process.poll() is not None:
                pytest.fail(f"scripts/run exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"scripts/run not ready after {READY_TIMEOUT:.0f} s:\n{log.read_text()}")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True, timeout=10, check=False)


def _comms(mountpoint: Path) -> list[str]:
    return sorted((entry / "comm").read_text().strip() for entry in mountpoint.iterdir() if entry.name.isdigit())


@requires_fuse
def test_run_clears_the_stale_mount_of_a_killed_daemon(tmp_path: Path) -> None:
    mountpoint, ready = tmp_path / "mnt", tmp_path / "ready"
    env = _script_env(tmp_path)
    with running([str(mountpoint), "--ready-file", str(ready)], mountpoint, ready, tmp_path, env) as crashed:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(timeout=10)
        with pytest.raises(OSError) as stale:
            os.stat(mountpoint)
        assert stale.value.errno == errno.ENOTCONN
        ready.unlink()
        with running([str(mountpoint), "--ready-file", str(ready)], mountpoint, ready, tmp_path, env):
            assert "bash" in _comms(mountpoint)
    assert not _is_mounted(mountpoint)


@requires_fuse
def test_run_takes_options_without_a_mountpoint(tmp_path: Path) -> None:
    mountpoint, ready = tmp_path / "default", tmp_path / "ready"
    env = _script_env(tmp_path, FAKEPROC_MOUNT=str(mountpoint))
    with running(["--workload", "mapper", "--lock-mode", "mmap", "--ready-file", str(ready)],
                 mountpoint, ready, tmp_path, env):
        assert _is_mounted(mountpoint)
        assert _comms(mountpoint) == ["bash", "many-vmas", "mapper", "mapper", "toggler-split"]
    assert not _is_mounted(mountpoint)


@requires_fuse
def test_run_finds_a_relative_mountpoint_between_options(tmp_path: Path) -> None:
    caller = tmp_path / "caller"
    caller.mkdir()
    args = ["--population", "empty", "--workload=mapper", "here", "--preempt", "never", "--ready-file", "ready"]
    with running(args, caller / "here", caller / "ready", caller, _script_env(tmp_path)):
        assert _is_mounted(caller / "here")
        assert _comms(caller / "here") == ["mapper"]
    assert not (REPO / "here").exists() and not (REPO / "ready").exists()


def test_run_refuses_two_mountpoints(tmp_path: Path) -> None:
    result = subprocess.run([str(RUN), "one", "--lock-mode", "vma", "two"], cwd=tmp_path, env=_script_env(tmp_path),
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "two mountpoints" in result.stderr
    assert not (tmp_path / "one").exists() and not (tmp_path / "two").exists()


def test_run_knows_every_option_of_mount_py() -> None:
    """scripts/run must know which options take a value to tell the mountpoint from their values."""
    help_text = subprocess.run([str(REPO / ".venv/bin/python"), str(REPO / "mount.py"), "--help"],
                               capture_output=True, text=True, timeout=60, check=True).stdout
    options = dict(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)((?: \S+)?)", help_text, re.MULTILINE))
    script = RUN.read_text()

    def listed(name: str) -> set[str]:
        match = re.search(rf"^{name}=\(([^)]*)\)", script, re.MULTILINE)
        assert match, name
        return set(match.group(1).split())

    assert listed("value_options") == {option for option, metavar in options.items() if metavar}
    assert listed("flag_options") == {option for option, metavar in options.items() if not metavar}


def _fake_repo(tmp_path: Path, pip_exit: int) -> Path:
    """A checkout of scripts/setup and the package sources it builds from, and a python whose venv's pip prints
    noise and exits ``pip_exit``."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copytree(REPO / "fakeproc", repo / "fakeproc", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy2(SETUP, repo / "scripts" / "setup")
    shutil.copy2(REPO / "pyproject.toml", repo / "pyproject.toml")
    venv_python = f'#!/bin/sh\necho "Collecting noise"; echo "ERROR: pip said no" >&2; exit {pip_exit}\n'
    fake_python = tmp_path / "python"
    fake_python.write_text(
        "#!/bin/sh\n"  # only ever called as: python -m venv .venv
        f'mkdir -p "$3/bin" && printf %s {_shell_quote(venv_python)} > "$3/bin/python" && chmod +x "$3/bin/python"\n'
    )
    fake_python.chmod(0o755)
    return repo


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_setup_says_what_it_installs_and_keeps_pip_quiet(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path, pip_exit=0)
    result = subprocess.run([str(repo / "scripts/setup")], env={**os.environ, "PYTHON": str(tmp_path / "python")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "first run: installing" in result.stdout and "about a minute" in result.stdout
    assert "noise" not in result.stdout + result.stderr and "pip said no" not in result.stdout + result.stderr
    assert (repo / ".venv" / ".installed").exists()
    again = subprocess.run([str(repo / "scripts/setup")], capture_output=True, text=True, timeout=60)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_setup_shows_the_installer_output_when_it_fails(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path, pip_exit=1)
    result = subprocess.run([str(repo / "scripts/setup")], env={**os.environ, "PYTHON": str(tmp_path / "python")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "setup: failed" in result.stderr and "Collecting noise" in result.stderr
    assert "ERROR: pip said no" in result.stderr
    assert not (repo / ".venv" / ".installed").exists()


def _setup_command(tmp_path: Path, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = _script_env(tmp_path)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(SETUP), "--command"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_setup_installs_a_fakeproc_command_that_works_from_anywhere(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    result = _setup_command(tmp_path, tmp_path, path=f"{bin_dir}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stderr
    assert f"installed the fakeproc command: {bin_dir}/fakeproc" in result.stdout and result.stderr == ""
    elsewhere = subprocess.run(["fakeproc", "--help"], cwd="/", env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"},
                               capture_output=True, text=True, timeout=60)
    assert elsewhere.returncode == 0 and elsewhere.stdout.startswith("usage: fakeproc")
    again = _setup_command(tmp_path, tmp_path, path=f"{bin_dir}:{os.environ['PATH']}")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_setup_says_when_the_command_is_not_on_path(tmp_path: Path) -> None:
    result = _setup_command(tmp_path, tmp_path, path="/usr/bin:/bin")
    assert result.returncode == 0
    assert f"{tmp_path / 'bin'} is not on PATH" in result.stderr


def test_setup_leaves_another_fakeproc_program_alone(tmp_path: Path) -> None:
    other = tmp_path / "bin" / "fakeproc"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\necho someone else's fakeproc\n")
    result = _setup_command(tmp_path, tmp_path)
    assert result.returncode == 0
    assert "is another program" in result.stderr
    assert other.read_text() == "#!/bin/sh\necho someone else's fakeproc\n"


def test_setup_repoints_its_own_command_at_this_checkout(tmp_path: Path) -> None:
    first = _setup_command(tmp_path, tmp_path)
    assert first.returncode == 0, first.stderr
    wrapper = tmp_path / "bin" / "fakeproc"
    wrapper.write_text(wrapper.read_text().replace(str(REPO), "/some/old/checkout"))
    second = _setup_command(tmp_path, tmp_path)
    assert "now runs this checkout" in second.stdout
    assert str(REPO / ".venv/bin/fakeproc") in wrapper.read_text() and "/some/old/checkout" not in wrapper.read_text()
    assert wrapper.stat().st_mode & stat.S_IXUSR


@requires_fuse
@pytest.mark.slow
def test_run_hints_commands_that_work_and_show_the_maps_changing(tmp_path: Path) -> None:
    mountpoint, ready = tmp_path / "mnt", tmp_path / "ready"
    # FAKEPROC_MOUNT for the hint's commands only: other mounts on this machine would make `fakeproc` ask which.
    env = _script_env(tmp_path)
    with running([str(mountpoint), "--ready-file", str(ready)], mountpoint, ready, tmp_path, env):
        output = next(tmp_path.glob("run-*.log")).read_text()
        hint = output.split("Try, in another shell:\n", 1)[1].split("fakeproc: mounted at", 1)[0]
        commands = [line.strip() for line in hint.splitlines() if line.strip()]
        assert len(commands) == 5, output
        results = [subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120,
                                  env={**env, "FAKEPROC_MOUNT": str(mountpoint), "DURATION": "1"})
                   for command in commands]
    ps, cat, diff, spawn, race = results
    assert ps.returncode == 0 and "mapper:64" in ps.stdout and "toggler:split" in ps.stdout, ps.stderr
    assert cat.returncode == 0 and "/usr/bin/bash" in cat.stdout
    assert diff.returncode == 1 and diff.stdout, "two reads a second apart were the same"
    assert spawn.returncode == 0 and spawn.stdout == "1004\n", spawn.stderr
    assert race.returncode == 0 and "6 passed, 0 failed" in race.stdout, race.stdout + race.stderr
