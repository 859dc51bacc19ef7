"""What FUSE tests share besides the fixtures: the checkout, and whether this machine can mount."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def require_fuse() -> None:
    """Fail (not skip) without FUSE: the suite promises real mounts, and ./scripts/setup installs fuse3."""
    if not (os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None):
        pytest.fail("FUSE is not available: ./scripts/setup installs fuse3")
