#!/usr/bin/env python3
"""Mount a fake /proc: ``python mount.py MOUNTPOINT [options]`` (same as ``fakeproc mount``)."""

import sys

from fakeproc.cli import mount_main

if __name__ == "__main__":
    sys.exit(mount_main())
