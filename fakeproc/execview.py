"""``fakeproc exec``: run an unmodified command that sees a fakeproc mount as its /proc.

The command runs in a private mount namespace (util-linux ``unshare``) in
which the mount is bind-mounted on /proc; nothing outside the namespace
changes.  Without root, a user namespace maps the caller to root inside so
that the namespace may still be made.  PROCMAP_QUERY cannot cross FUSE, so the
preload library that answers it goes into the command's LD_PRELOAD.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PROG = "fakeproc exec"
#: The daemon resolves /proc/self per caller; a command started with --self names its simulated pid here.
SELF_VARIABLE = "FAKEPROC_SELF"
#: Built by scripts/setup (from native/procmap_query.c) where the CLI finds it without the lab's build helper.
PRELOAD_LIBRARY = Path(__file__).resolve().parent / "native" / "procmap_query.so"
#: Run inside the new namespace: $0 is the mount, "$@" the command; exec keeps the command's status.
#: With --self the shell first tells the daemon that it, and so the command it becomes, and every
#: descendant, see that simulated process as /proc/self; $$ is the pid the command will have.
_INNER_SCRIPT = (
    'mount --bind -- "$0" /proc || exit 1; '
    'if [ -n "${FAKEPROC_SELF:-}" ]; then echo "self $$ $FAKEPROC_SELF" > /proc/ctl || exit 1; fi; '
    'exec "$@"'
)
_PROBE_TIMEOUT = 30


class CannotRun(Exception):
    """Why the command cannot be given its view of /proc: one line for the user."""


def add_exec_arguments(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a --mount given before the subcommand (fakeproc --mount MNT exec ...) must survive.
    parser.add_argument("--mount", default=argparse.SUPPRESS,
                        help="the fakeproc mountpoint (default: $FAKEPROC_MOUNT)")
    parser.add_argument("--self", type=int, dest="self_pid", metavar="PID",
                        help="the simulated pid the command's /proc/self names")
    parser.add_argument("command_line", nargs=argparse.REMAINDER, metavar="[--] CMD [ARGS...]",
                        help="the command and its arguments")


def command_of(remainder: Sequence[str]) -> list[str]:
    """argparse's REMAINDER keeps the ``--`` that separates our options from the command's."""
    return list(remainder[1:] if remainder[:1] == ["--"] else remainder)


def _user_namespaces_work(unshare: str) -> bool:
    try:
        probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "true"],
                               capture_output=True, timeout=_PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def namespace_argv(mount: Path, command: Sequence[str]) -> list[str]:
    """The full argv that runs ``command`` with ``mount`` on /proc.

    Raises CannotRun when the tools are missing, ``mount`` is not a mount, or
    the caller can make no mount namespace (not root, user namespaces off).
    """
    if not command:
        raise CannotRun("no command given: fakeproc exec [--mount MNT] [--self PID] [--] CMD [ARGS...]")
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        raise CannotRun("needs unshare and mount from util-linux, which are not installed")
    if not os.path.ismount(mount):
        raise CannotRun(f"{mount} is not a mountpoint: start the daemon with `fakeproc mount --passthrough {mount}` first")
    if not os.path.islink(mount / "self"):
        # Without the host's processes and files, ps, top and free refuse to run at all.
        raise CannotRun(f"{mount} does not pass the real /proc through: mount it with `fakeproc mount --passthrough`")
    argv = [unshare]
    if os.geteuid() != 0:
        if not _user_namespaces_work(unshare):
            raise CannotRun("not root and user namespaces are disabled here, so no private mount namespace can be made")
        argv += ["--user", "--map-root-user"]
    return [*argv, "--mount", "--propagation", "private", "--", "sh", "-c", _INNER_SCRIPT, str(mount), *command]


def command_environment(preload: Path | None, self_pid: int | None) -> dict[str, str]:
    """The caller's environment plus the preload library and the --self pid."""
    environment = dict(os.environ)
    if preload is not None:
        earlier = environment.get("LD_PRELOAD")
        environment["LD_PRELOAD"] = f"{preload}:{earlier}" if earlier else str(preload)
    if self_pid is not None:
        environment[SELF_VARIABLE] = str(self_pid)
    return environment


def run(mount: Path | str | None, command: Sequence[str], *, preload: Path | None = None,
        self_pid: int | None = None) -> int:
    """Run ``command`` with ``mount`` as its /proc and return its exit status.

    A command killed by a signal gives 128 + the signal number, as a shell
    reports it.  When the view cannot be made, prints one line saying why to
    stderr and returns 1.
    """
    try:
        if mount is None:
            raise CannotRun("no mount given: use --mount or set FAKEPROC_MOUNT")
        if self_pid is not None and self_pid <= 0:
            raise CannotRun(f"--self {self_pid}: a pid is a positive number")
        if preload is not None and not preload.is_file():
            raise CannotRun(f"the PROCMAP_QUERY library {preload} is not built: run scripts/setup")
        argv = namespace_argv(Path(mount), command)
        if self_pid is not None and not (Path(mount) / str(self_pid) / "ctl").exists():
            raise CannotRun(f"--self {self_pid}: no such simulated process")
    except CannotRun as reason:
        print(f"{PROG}: {reason}", file=sys.stderr)
        return 1
    status = subprocess.run(argv, env=command_environment(preload, self_pid)).returncode
    return 128 - status if status < 0 else status
