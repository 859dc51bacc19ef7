"""Build the PROCMAP_QUERY preload library and its test client, and run the client."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from mountutil import REPO

TIMEOUT = 60


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


def build_procmap_tools(out: Path) -> Tools:
    """Compile the preload library and the test client into ``out``."""
    native = REPO / "fakeproc" / "native"
    tools = Tools(out / "procmap_query.so", out / "procmap_query_client")
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(tools.preload),
                    str(native / "procmap_query.c"), "-ldl"], check=True, timeout=TIMEOUT)
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-I", str(native), "-o", str(tools.client),
                    str(REPO / "tests" / "helpers" / "procmap_query_client.c")], check=True, timeout=TIMEOUT)
    return tools


@pytest.fixture(scope="module")
def procmap(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """The tools, built once per test module."""
    return build_procmap_tools(tmp_path_factory.mktemp("procmap"))
