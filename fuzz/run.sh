#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS seconds each, one after the other
# (one core each; the machine may be shared). Seeds: fuzz/corpus/<target>/
# (committed, replayed by `cargo test` in tests/reliability/corpus.rs); new
# inputs go to fuzz/work/<target>/ (not committed); crashes to
# fuzz/artifacts/<target>/. Prints one summary line per target.
#
#   fuzz/run.sh 600            # 10 minutes each
#   TARGETS="tree_decode" fuzz/run.sh 60
set -euo pipefail
secs=${1:?usage: fuzz/run.sh SECONDS}
cd "$(dirname "$0")"
targets=${TARGETS:-"pack_format tree_decode manifest zip_import vault_header vault_segments"}
target_dir=${FUZZ_TARGET_DIR:-target}
status=0
for t in $targets; do
    mkdir -p "work/$t" "artifacts/$t"
    log="work/$t.log"
    if cargo +nightly fuzz run -O --target-dir "$target_dir" "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see fuzz/$log and fuzz/artifacts/$t/)"
        status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "$t: ${secs}s, $execs executions, $cov, $result"
done
exit $status
