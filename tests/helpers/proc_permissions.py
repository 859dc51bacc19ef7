"""Try every file operation a user might on a /proc-like tree and print each errno.

Usage: proc_permissions.py PROC OTHER_PID OWN_PID ROOT_FILE
Runs with any python3 and only the standard library, so that it can run as
another user.  Prints one ``operation result`` line per attempt, where result
is ``ok``, ``True``/``False`` (access) or an errno name.
"""

import errno
import os
import sys

proc, other, own, root_file = sys.argv[1:5]
ACCESS = {"R": os.R_OK, "W": os.W_OK, "X": os.X_OK}


def attempt(name, operation):
    try:
        result = operation()
        shown = "ok" if result is None else str(result)
    except OSError as error:
        shown = errno.errorcode.get(error.errno, str(error.errno))
    print(f"{name} {shown}")


def open_close(path, flags):
    os.close(os.open(path, flags, 0o644))


for who, pid in (("other", other), ("own", own)):
    directory = f"{proc}/{pid}"
    for name in ("maps", "smaps", "smaps_rollup", "status", "cmdline", ""):
        path = f"{directory}/{name}" if name else directory
        for letter, mode in ACCESS.items():
            attempt(f"{who} access {name or 'dir'} {letter}", lambda: os.access(path, mode))
        attempt(f"{who} open {name or 'dir'}", lambda: open_close(path, os.O_RDONLY))
    maps = f"{directory}/maps"
    attempt(f"{who} open maps W", lambda: open_close(maps, os.O_WRONLY))
    attempt(f"{who} open status W", lambda: open_close(f"{directory}/status", os.O_WRONLY))
    attempt(f"{who} truncate maps", lambda: os.truncate(maps, 0))
    attempt(f"{who} truncate status", lambda: os.truncate(f"{directory}/status", 0))
    attempt(f"{who} unlink maps", lambda: os.unlink(maps))
    attempt(f"{who} unlink missing", lambda: os.unlink(f"{directory}/missing"))
    attempt(f"{who} rename maps new", lambda: os.rename(maps, f"{directory}/new"))
    attempt(f"{who} rename maps status", lambda: os.rename(maps, f"{directory}/status"))
    attempt(f"{who} rename dir new", lambda: os.rename(directory, f"{proc}/new"))
    attempt(f"{who} rmdir dir", lambda: os.rmdir(directory))
    attempt(f"{who} mkdir new", lambda: os.mkdir(f"{directory}/new"))
    attempt(f"{who} mkdir maps", lambda: os.mkdir(maps))
    attempt(f"{who} symlink", lambda: os.symlink("/", f"{directory}/new"))
    attempt(f"{who} link", lambda: os.link(maps, f"{directory}/new"))
    attempt(f"{who} mknod", lambda: os.mknod(f"{directory}/new"))
    attempt(f"{who} mkfifo", lambda: os.mkfifo(f"{directory}/new"))
    attempt(f"{who} creat new", lambda: open_close(f"{directory}/new", os.O_CREAT | os.O_WRONLY))
    attempt(f"{who} creat maps", lambda: open_close(maps, os.O_CREAT | os.O_RDONLY))
    attempt(f"{who} creat excl maps", lambda: open_close(maps, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    attempt(f"{who} chmod maps", lambda: os.chmod(maps, 0o644))
    attempt(f"{who} chown maps", lambda: os.chown(maps, os.getuid(), os.getgid()))
    attempt(f"{who} utime maps", lambda: os.utime(maps))
attempt("root unlink file", lambda: os.unlink(f"{proc}/{root_file}"))
attempt("root rename file new", lambda: os.rename(f"{proc}/{root_file}", f"{proc}/new"))
attempt("root mkdir", lambda: os.mkdir(f"{proc}/new"))
attempt("root symlink", lambda: os.symlink("/", f"{proc}/new"))
attempt("root creat", lambda: open_close(f"{proc}/new", os.O_CREAT | os.O_WRONLY))
