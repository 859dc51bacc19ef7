"""Compile the repository's C helpers once, into a cache shared by tests, benchmarks and scripts.

A binary lives in a folder named by a digest of what produced it (the
source bytes, the compiler and the flags) and keeps its source's stem as its
name, so its comm is what the tests expect; an edited source or a different
flag gets its own folder, and parallel builders of the same binary agree on
its path.  Each compiles to a private temporary name and renames it into
place, so nobody ever runs a half-written binary.  The source file is
hashed, and so is each local header it includes, named as a dependency.

This module imports nothing outside the standard library because
``scripts/race.sh`` runs it with whatever ``python3`` is on PATH, venv or not:
``python -m fakeproc.lab.cbuild SOURCE [--cache-dir DIR] [-- FLAG...]`` prints
the binary's path.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BASE_FLAGS = ("-O2", "-Wall", "-Werror")


class BuildError(RuntimeError):
    """No C compiler, or the compiler rejected the source."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fakeproc/c`` (``~/.cache/fakeproc/c``): per user, so nobody else can plant a binary."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache_home) / "fakeproc" / "c"


def compiler() -> list[str]:
    """``$CC`` split like a shell would (it may be ``ccache gcc``), else gcc; BuildError if not on PATH."""
    command = shlex.split(os.environ.get("CC") or "gcc")
    found = shutil.which(command[0]) if command else None
    if found is None:
        raise BuildError(f"no C compiler: {command[0] if command else '$CC'!r} is not on PATH "
                         "(install gcc, e.g. apt-get install gcc, or set CC)")
    return [found, *command[1:]]


def build(source: str | os.PathLike[str], extra_flags: Sequence[str] = (), cache_dir: str | os.PathLike[str] | None = None,
          depends: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """The path of ``source`` compiled with BASE_FLAGS plus ``extra_flags``, compiling only on a cache miss.

    ``depends`` are the local headers ``source`` includes: an edit to one
    is a new binary too.  O(size of the files) to hash on a hit.  Raises
    BuildError with the compiler's messages when compiling fails.
    """
    source = Path(source)
    command = compiler()
    flags = [*BASE_FLAGS, *extra_flags]
    key = hashlib.sha256()
    for part in (source.read_bytes(), *(Path(header).read_bytes() for header in depends), *command, *flags):
        key.update(part if isinstance(part, bytes) else part.encode())
        key.update(b"\0")
    directory = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / key.hexdigest()[:16]
    binary = directory / source.stem
    if binary.exists():
        return binary
    directory.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{binary.name}.", dir=directory)
    os.close(fd)
    try:
        result = subprocess.run([*command, *flags, "-o", partial, str(source)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"{shlex.join(command)} could not compile {source}:\n{result.stderr}")
        os.chmod(partial, 0o755)
        os.replace(partial, binary)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return binary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakeproc.lab.cbuild", description="Compile a C helper (cached); print its path.")
    parser.add_argument("source", type=Path)
    parser.add_argument("flags", nargs="*", help="extra compiler flags, after --")
    parser.add_argument("--cache-dir", type=Path, help=f"where binaries are kept (default {default_cache_dir()})")
    parser.add_argument("--depends", type=Path, action="append", default=[], metavar="HEADER",
                        help="a local header the source includes (repeatable)")
    args = parser.parse_args(argv)
    try:
        print(build(args.source, args.flags, args.cache_dir, args.depends))
    except (BuildError, OSError) as error:
        print(f"cbuild: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
