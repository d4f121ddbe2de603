#!/usr/bin/env bash
# Negative controls: builds deliberately broken variants of snap (cfg flag
# snap_broken=..., see the `snap_broken` cfgs in store/ and engine/) and
# checks that the suite catches each one: the named test must FAIL with the
# flag (and pass without it). A suite that cannot fail proves nothing.
#
#   tests/negative-controls.sh            # all variants
#   tests/negative-controls.sh no_dir_fsync
#
# Uses its own target dir ($CARGO_TARGET_DIR-broken) and a rustc wrapper
# that adds the cfg to snap's crates only; our crates are touched before
# each build so cargo recompiles them.
set -uo pipefail
cd "$(dirname "$0")/.."
base=${CARGO_TARGET_DIR:-$PWD/target}
# NEGATIVE_TARGET_DIR=the normal target dir saves a full build of the
# dependencies (the wrapper is not part of cargo's fingerprint; our crates
# are touched before and after, so they are rebuilt clean afterwards).
export CARGO_TARGET_DIR=${NEGATIVE_TARGET_DIR:-$base-broken}
export RUSTC_WRAPPER=$PWD/tests/rustc-broken-wrapper.sh

# variant | cargo test arguments that must fail
controls=(
    "no_dir_fsync|--test tests reliability::faults::durability_protocol"
    "no_fsync_before_rename|--test tests reliability::faults::durability_protocol"
    "no_fsync_before_rename|--test tests reliability::powercut:: -- --include-ignored"
    "no_tree_syncfs|--test tests reliability::powercut::power_cuts_during_extraction -- --include-ignored"
    "snapshot_before_packs|--test tests reliability::faults::fault_sweep"
    "lock_released_early|--test tests store_lock::"
    "zip_validator_off|-p snap-engine --test api archive::corpus::"
)
logs=${NEGATIVE_LOGS:-$CARGO_TARGET_DIR/negative-controls}
mkdir -p "$logs"
want=${1:-}
caught=0
missed=0
for c in "${controls[@]}"; do
    variant=${c%%|*}
    args=${c#*|}
    [ -n "$want" ] && [ "$want" != "$variant" ] && [ "$want" != "$c" ] && continue
    touch store/src/lib.rs engine/src/lib.rs
    # The fault sweep only needs create's writes to see this one.
    if SNAP_BROKEN=$variant SNAP_FAULT_ONLY=create:write \
        cargo test -q $args >"$logs/$variant.log" 2>&1; then
        echo "MISSED  $variant: \`cargo test $args\` passed (log: $logs/$variant.log)"
        missed=$((missed + 1))
    elif grep -q "panicked\|test result: FAILED" "$logs/$variant.log"; then
        echo "caught  $variant: \`cargo test $args\` failed, as it must"
        caught=$((caught + 1))
    else
        echo "ERROR   $variant: did not build or run (log: $logs/$variant.log)"
        missed=$((missed + 1))
    fi
done
touch store/src/lib.rs engine/src/lib.rs
echo "negative controls: $caught caught, $missed missed"
[ "$missed" -eq 0 ]
