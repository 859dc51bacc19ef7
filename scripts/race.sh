#!/usr/bin/env bash
# Run the proc_maps_race C test (tests/race/proc_maps_race.c) against a live
# fakeproc mount: every pattern (split, resize, remap) on both maps and smaps.
#
# usage: scripts/race.sh MOUNTPOINT [TEST...]
#   TEST: split_maps split_smaps resize_maps resize_smaps remap_maps remap_smaps
#         (default: all of them)
# environment:
#   DURATION   seconds per test (default 5)
#   VERBOSE=1  print the lines around the page boundary
#   LOCK_MODE  spawn the simulated processes with lock=LOCK_MODE
#              (default: the daemon's default mode)
#   BUILD_DIR  where to keep the binary (default: fakeproc.lab.cbuild's cache)
#   CC         C compiler (default: gcc)
#   PYTHON     interpreter that runs the build helper (default: python3)
# Exit status: 0 only if every test passed.
set -euo pipefail

if [ $# -ge 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; }; then
    sed -n '2,16s/^# \{0,1\}//p' "$0"
    exit 0
fi
if [ $# -lt 1 ]; then
    sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi

mnt=$1
shift

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$repo/tests/race/proc_maps_race.c

if [ ! -e "$mnt/ctl" ]; then
    echo "race.sh: $mnt/ctl not found; is fakeproc mounted at $mnt?" >&2
    exit 2
fi

# The one C build recipe (cached, atomic) is fakeproc.lab.cbuild.  It uses only
# the standard library, so any python3 runs it from the source tree: this script
# works against a mount served from anywhere, with or without the repo's venv.
bin=$(PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" -m fakeproc.lab.cbuild \
    ${BUILD_DIR:+--cache-dir "$BUILD_DIR"} "$src" -- -pthread)

# DURATION, VERBOSE and LOCK_MODE reach the binary through the environment.
exec "$bin" "$mnt" "$@"
