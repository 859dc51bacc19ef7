#!/usr/bin/env bash
# Read MNT/PID/maps in a loop until the process disappears, like proc-mmap_sem-test's scanpid.sh.
# Usage: scripts/scanpid.sh MNT PID   (prints how many full reads it made)
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 MOUNTPOINT PID" >&2
    exit 2
fi
maps="$1/$2/maps"
[ -e "$maps" ] || { echo "$0: $maps does not exist" >&2; exit 1; }
reads=0
while cat "$maps" >/dev/null 2>&1; do
    reads=$((reads + 1))
done
echo "$reads"
