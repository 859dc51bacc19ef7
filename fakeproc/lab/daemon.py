"""A FUSE daemon for tests and benchmarks that never outlives its caller and never leaves a mount behind.

:func:`mounted` starts a daemon (``mount.py`` by default, or any
command taking ``MOUNTPOINT --ready-file PATH``) on ``base/mnt`` and returns
once it has written its ready file.  :meth:`Mount.stop` -- also the end of a
``with`` block -- sends SIGTERM (the daemon unmounts and writes its stats
file), kills it if it does not exit, and always lazily unmounts.  The daemon
gets a parent-death signal, so a caller that dies even by SIGKILL takes it
along.

Whether it also gets a session of its own is the caller's choice, because
with ``sched_autogroup`` a session is a CPU scheduling group: the daemon
then competes as a whole group instead of as one task among the caller's,
which changes how often a reader and a writer interleave.  The race tests'
detection rates were measured with the daemon in the caller's session (the
default); the benchmarks' figures with it in its own.
"""

from __future__ import annotations

import ctypes
import errno
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .. import client
from ..mounts import unmount

#: The checkout's mount.py by path: the daemon runs the code next to this file whatever the working directory.
FAKEPROC_MOUNT = (sys.executable, str(Path(__file__).resolve().parents[2] / "mount.py"))
READY_TIMEOUT = 60.0
#: Long enough for a daemon to serialise the latency of every operation of a benchmark run.
STOP_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the parent dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def spawn(argv: Sequence[str], own_session: bool = True, **popen_options: object) -> subprocess.Popen[bytes]:
    """Start a child that dies with us; with ``own_session`` it leads a session, so one process group for killpg."""
    return subprocess.Popen(list(argv), start_new_session=own_session, preexec_fn=_die_with_parent,  # type: ignore[call-overload]
                            **popen_options)


@dataclass
class Mount:
    """A running daemon serving ``path``; its output goes to ``log``."""

    path: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The daemon's pid."""
        return self.process.pid

    def ctl(self, pid: int | str | None, *commands: str) -> list[str]:
        """Run ``commands`` on the root (``pid`` None) or a process's ctl file; the result lines.

        Raises OSError (a :class:`fakeproc.client.CtlRejected` when the daemon refuses a command).
        """
        return client.ctl(self.path, pid, *commands)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if the daemon lingers, then unmount; its exit status.  Idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        unmount(self.path)
        return self.process.returncode

    def __enter__(self) -> Mount:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()


def _make_mountpoint(path: Path) -> None:
    try:
        path.mkdir(exist_ok=True)
    except OSError as error:
        # A dead daemon's mount: the next daemon clears it itself.
        if error.errno != errno.ENOTCONN:
            raise


def mounted(base: Path, *options: str, command: Sequence[str] = FAKEPROC_MOUNT,
            ready_timeout: float = READY_TIMEOUT, own_session: bool = False) -> Mount:
    """Start ``command base/mnt --ready-file base/ready *options`` and wait until it is ready.

    The log is ``base/daemon.log``.  If the daemon exits or is not ready
    within ``ready_timeout`` seconds, it is stopped and unmounted and
    RuntimeError or TimeoutError carries its log.
    """
    mountpoint = base / "mnt"
    _make_mountpoint(mountpoint)
    ready = base / "ready"
    ready.unlink(missing_ok=True)
    log = base / "daemon.log"
    with open(log, "wb") as log_file:
        process = spawn([*command, str(mountpoint), "--ready-file", str(ready), *options], own_session,
                        stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    mount = Mount(mountpoint, process, log)
    try:
        deadline = time.monotonic() + ready_timeout
        # The daemon writes its pid there once mounted; an empty file is one still being written.
        while not ready.exists() or not ready.read_text().strip():
            if process.poll() is not None:
                raise RuntimeError(f"daemon exited with {process.returncode}: {log.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"daemon not ready after {ready_timeout}s: {log.read_text()}")
            time.sleep(0.01)
    except BaseException:
        mount.stop()
        raise
    return mount
