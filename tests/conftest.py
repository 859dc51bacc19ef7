from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import pytest
from hypothesis import settings

from fakeproc.lab.daemon import Mount, mounted
from mountutil import require_fuse

# The same examples on every run, so a green suite stays green where it lands (CI) and a failure replays.
# HYPOTHESIS_PROFILE=explore draws new examples each run, to hunt for differences with the kernel.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture
def demo_mount(tmp_path: Path) -> Iterator[Mount]:
    require_fuse()
    with mounted(tmp_path) as mount:
        yield mount


@pytest.fixture
def mount_factory(tmp_path: Path) -> Iterator[Callable[..., Mount]]:
    """``with mount_factory(*options) as mount:`` for tests that need their own options.

    Whatever a test leaves running is stopped and unmounted at teardown.
    """
    require_fuse()
    started: list[Mount] = []
    numbers = count()

    def factory(*options: str) -> Mount:
        base = tmp_path / f"m{next(numbers)}"
        base.mkdir()
        started.append(mounted(base, *options))
        return started[-1]

    yield factory
    for mount in started:
        mount.stop()


@pytest.fixture
def proc_mount(tmp_path: Path) -> Iterator[Mount]:
    """The demo population with the host's /proc passed through: what `fakeproc exec` needs."""
    require_fuse()
    with mounted(tmp_path, "--passthrough") as mount:
        yield mount
