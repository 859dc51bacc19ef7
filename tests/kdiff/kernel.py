"""Run ctl-style operations against the real kernel through arena.c.

``run_kernel(ops, arena_size)`` feeds the operations (addresses relative to
an arena) to the compiled helper and returns its result lines and the final
maps lines of the arena.  See arena.c's header comment for the syntax and
the meaning of every output line, and KERNEL_FACTS.md for what was learnt.

Besides pytest's marks, it needs only the standard library and fakeproc.lab.cbuild.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fakeproc.lab import cbuild

SOURCE = Path(__file__).with_name("arena.c")
DEFAULT_ARENA = 64 << 20

_MAPS_LINE = re.compile(r"^[0-9a-f]{8,}-[0-9a-f]{8,} ")


class HelperError(RuntimeError):
    """The helper did not behave."""


def build_helper(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The path of arena.c compiled into ``cache_dir`` (default: fakeproc.lab.cbuild's cache)."""
    return str(cbuild.build(SOURCE, cache_dir=cache_dir))


def run_kernel(
    ops: list[str],
    arena_size: int = DEFAULT_ARENA,
    *,
    helper: str | None = None,
    timeout: float = 60.0,
) -> tuple[list[str], list[str]]:
    """Run ``ops`` in a fresh helper process.

    Returns ``(results, lines)``: one result line per operation ("0x..",
    "0", "error: ENAME", "outside 0x..", "refused: ...") and the arena's
    maps lines (start/end relative to the arena, trailing space kept, no
    newline).  Lines starting with "!" mean something outside the arena's
    control intruded; that raises HelperError.
    """
    ops = [op for op in ops if op.strip() and not op.lstrip().startswith("#")]
    for op in ops:
        if "\n" in op:
            raise ValueError(f"operation contains a newline: {op!r}")
    exe = helper or build_helper()
    proc = subprocess.run(
        [exe, "-s", hex(arena_size)],
        input="".join(op + "\n" for op in ops),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise HelperError(f"helper exited {proc.returncode}: {proc.stderr}")
    out = proc.stdout.split("\n")
    if out and out[-1] == "":
        out.pop()
    try:
        sep = out.index("--")
    except ValueError:
        raise HelperError(f"no '--' in helper output: {proc.stdout!r}") from None
    results, lines = out[:sep], out[sep + 1 :]
    if len(results) != len(ops):
        raise HelperError(f"{len(ops)} ops but {len(results)} results")
    bad = [line for line in lines if line.startswith("!")]
    if bad:
        raise HelperError(f"arena disturbed: {bad}")
    return results, lines


def normalize_shmem_inodes(lines: list[str]) -> list[str]:
    """Renumber the inodes of shared anonymous mappings.

    Each MAP_SHARED|MAP_ANONYMOUS mmap gets a fresh shmem inode whose number
    changes from run to run ("... 00:01 1041   /dev/zero (deleted)").  Only
    which lines share an inode is a kernel fact, so inodes are replaced by
    1, 2, 3 ... in order of first appearance (padding is recomputed).
    """
    seen: dict[str, int] = {}
    result = []
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5] == "/dev/zero (deleted)":
            num = seen.setdefault(fields[4], len(seen) + 1)
            head = " ".join(fields[:4] + [str(num)]) + " "
            line = head.ljust(72) + " " + fields[5]
        result.append(line)
    return result


def run_kernel_steps(
    ops: list[str], arena_size: int = DEFAULT_ARENA, *, helper: str | None = None
) -> list[tuple[str, str, list[str]]]:
    """Like run_kernel, but returns (op, result, maps lines) after every op."""
    ops = [op for op in ops if op.strip() and not op.lstrip().startswith("#")]
    exe = helper or build_helper()
    proc = subprocess.run(
        [exe, "-v", "-s", hex(arena_size)],
        input="".join(op + "\n" for op in ops),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise HelperError(f"helper exited {proc.returncode}: {proc.stderr}")
    out = proc.stdout.split("\n")
    if out and out[-1] == "":
        out.pop()
    steps: list[tuple[str, str, list[str]]] = []
    i = 0
    for op in ops:
        result = out[i]
        if out[i + 1] != "--":
            raise HelperError(f"unexpected helper output near {out[i:i+2]!r}")
        i += 2
        lines = []
        while i < len(out) and (_MAPS_LINE.match(out[i]) or out[i].startswith("! ")):
            lines.append(out[i])
            i += 1
        steps.append((op, result, lines))
    return steps


if __name__ == "__main__":  # python kernel.py < ops : show every step
    import sys

    for op, result, lines in run_kernel_steps(sys.stdin.read().splitlines()):
        print(f"> {op}\n  = {result}")
        for line in lines:
            print(f"    {line}")


def kernel_version() -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", platform.release())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def overcommit_mode() -> str:
    try:
        return Path("/proc/sys/vm/overcommit_memory").read_text().strip()
    except OSError:
        return "?"


def reference_marks() -> list[pytest.MarkDecorator]:
    """Skip where this machine's kernel cannot be the reference the facts were recorded on."""
    return [
        pytest.mark.skipif(sys.platform != "linux", reason="needs Linux"),
        pytest.mark.skipif(kernel_version() < (6, 18), reason="the facts and the model follow Linux 6.18"),
        pytest.mark.skipif(os.sysconf("SC_PAGE_SIZE") != 4096, reason="needs 4 KiB pages"),
        pytest.mark.skipif(overcommit_mode() == "2", reason="overcommit mode 2 ignores MAP_NORESERVE"),
        pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc"),
    ]
