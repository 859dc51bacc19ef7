#!/usr/bin/env bash
# Drive a simulated process with plain shell: spawn, map, split, merge, query, kill.
# Usage: scripts/ctl-demo.sh MOUNTPOINT
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 MOUNTPOINT" >&2
    exit 2
fi
m=$1

show() {
    echo "--- $1"
    grep -v vsyscall "$m/$pid/maps" || true
}

exec 3<>"$m/ctl"
echo 'spawn ctl-demo' >&3
read -r pid <&3
exec 3>&-
echo "spawned pid $pid"

exec 3<>"$m/$pid/ctl"
run() {  # one command, one result line; a failed write makes bash report it and we stop
    echo "$1" >&3
    read -r result <&3
    echo "\$ $1  ->  $result"
}

run 'mmap 0 0x3000 rw- private,anonymous'
addr=$result
show "one 3-page mapping"
run "mprotect $addr 0x1000 r--"
show "split: first page read-only"
run "mprotect $addr 0x1000 rw-"
show "merged back"
run "query $addr"
run "munmap $(printf '0x%x' $((addr + 0x1000))) 0x1000"
show "a hole in the middle"
run "query $(printf '0x%x' $((addr + 0x1000))) covering_or_next"
exec 3>&-

exec 3<>"$m/ctl"
echo "kill $pid" >&3
read -r result <&3
exec 3>&-
echo "killed $pid: $result"
