#!/usr/bin/env bash
# Long crash loops: N kill -9 points per operation (create, restore in place,
# gc, import) on the profile of the default run (2 000 files, 200 MB, 30%
# changed per round) with 25 points per repository, plus the full fault
# sweep and 10x the byte flips. Prints the figures tables (stderr of the
# tests).
#
#   tests/soak.sh 1000
set -euo pipefail
n=${1:?usage: tests/soak.sh N}
cd "$(dirname "$0")/.."
export SNAP_CRASH_POINTS=$n
export SNAP_CRASH_FILES=${SNAP_CRASH_FILES:-2000}
export SNAP_CRASH_BYTES=${SNAP_CRASH_BYTES:-200000000}
export SNAP_CRASH_PER_REPO=${SNAP_CRASH_PER_REPO:-25}
export SNAP_CRASH_SEED=${SNAP_CRASH_SEED:-$RANDOM}
export SNAP_FLIPS=${SNAP_FLIPS:-10000}
echo "soak: $n crash points per operation, $SNAP_CRASH_FILES files / $SNAP_CRASH_BYTES bytes, seed $SNAP_CRASH_SEED" >&2
cargo test --release --test tests -- --nocapture --test-threads=1 \
    reliability::crash reliability::faults reliability::flips
