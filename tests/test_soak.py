"""scripts/soak itself: a short run finds nothing wrong and reports every figure it promises."""

from __future__ import annotations

import json
import subprocess

import pytest

from fakeproc.bench.soak import malformed
from mountutil import REPO, require_fuse

GOOD_MAPS = (b"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
             b"7f0000001000-7f0000002000 r--p 00001000 fd:01 42                         /usr/lib/libc.so.6\n"
             b"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n")


def test_the_checker_counts_torn_lines_and_a_missing_gate() -> None:
    assert malformed(GOOD_MAPS, smaps=False) == 0
    assert malformed(GOOD_MAPS + b"Rss:  4 kB\n", smaps=True) == 0
    torn = GOOD_MAPS.replace(b"-7f0000002000 r--p", b"-7f00 r--p")
    assert malformed(torn, smaps=False) == 1
    assert malformed(GOOD_MAPS[:-20], smaps=False) == 1 + 1  # a cut line and no gate


@pytest.mark.fuse
def test_a_short_soak_is_clean() -> None:
    require_fuse()
    result = subprocess.run([str(REPO / "scripts" / "soak"), "--duration", "4", "--readers", "4", "--json"],
                            capture_output=True, text=True, timeout=600)
    figures = json.loads(result.stdout)
    assert result.returncode == 0, figures["first_errors"]
    assert figures["reads"] > 0 and figures["ctl_commands"] > 0
    assert (figures["read_errors"], figures["malformed_lines"]) == (0, 0)
    assert set(figures["samples"]) == {"start", "middle", "end"}
    assert figures["samples"]["start"]["open_fds"] == figures["samples"]["end"]["open_fds"]
