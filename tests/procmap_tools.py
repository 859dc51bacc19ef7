"""Build the PROCMAP_QUERY preload library and its test client, and run the client."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakeproc.lab import cbuild
from mountutil import REPO

TIMEOUT = 60
NATIVE = REPO / "fakeproc" / "native"
HEADER = NATIVE / "procmap_query.h"


@dataclass(frozen=True)
class Tools:
    preload: Path
    client: Path

    def run(self, *args: str, preload: bool = True, pass_fds: tuple[int, ...] = ()) -> list[str]:
        """The client's output lines, with the library preloaded unless ``preload`` is False."""
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if preload:
            env["LD_PRELOAD"] = str(self.preload)
        result = subprocess.run(
            [str(self.client), *args], env=env, pass_fds=pass_fds, capture_output=True, text=True,
            timeout=TIMEOUT, check=True,
        )
        return result.stdout.splitlines()


def build_procmap_tools() -> Tools:
    """The preload library and the test client, from the C build helper's cache."""
    return Tools(
        cbuild.build(NATIVE / "procmap_query.c", ["-shared", "-fPIC", "-ldl"], depends=[HEADER]),
        cbuild.build(REPO / "tests" / "helpers" / "procmap_query_client.c", ["-I", str(NATIVE)], depends=[HEADER]),
    )


@pytest.fixture(scope="module")
def procmap() -> Tools:
    """The tools, built once per test module (and once per source across runs)."""
    return build_procmap_tools()
