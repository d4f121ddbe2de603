#!/usr/bin/env bash
# Peak RSS of `snap export` (ZIP and vault v2) and `snap import` of a
# snapshot of at least 1 GiB (issue 5: must stay under 100 MB).
# Usage: [SNAP=path/to/snap] benches/views_memory.sh [SIZE_MIB] (default 1100).
# Default binary: $CARGO_TARGET_DIR/release/snap. Prints VmHWM-equivalent
# (GNU time's "Maximum resident set size") per command.
set -euo pipefail
SIZE=${1:-1100}
SNAP=${SNAP:-${CARGO_TARGET_DIR:-target}/release/snap}
W=$(mktemp -d "${TMPDIR:-/tmp}/snap-views-mem.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/app/sub"
# Incompressible data in files of 100 MiB, plus small JSON files.
n=0
while [ $((n * 100)) -lt "$SIZE" ]; do
  head -c $((100 << 20)) /dev/urandom > "$W/app/sub/big$n.bin"
  n=$((n + 1))
done
for i in $(seq 1 200); do echo "{\"i\":$i,\"api_token\":\"x\"}" > "$W/app/f$i.json"; done
export SNAP_REPO="$W/repo" SNAP_PASSWORD="benchmark-password"
peak() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%M" -o "$W/rss" "$@" > /dev/null
  printf '%-28s %6d MB peak RSS\n' "$label" $(( $(cat "$W/rss") / 1024 ))
}
peak "create" "$SNAP" create "$W/app"
peak "export --zip" "$SNAP" export latest --zip "$W/out.zip"
peak "export --vault (v2)" "$SNAP" export latest --vault "$W/out.stvault"
peak "import zip" "$SNAP" import "$W/out.zip" --profile zipcopy
peak "import vault" "$SNAP" import "$W/out.stvault" --profile vaultcopy
peak "restore vault --target" "$SNAP" restore "$W/out.stvault" --target "$W/restored"
ls -l "$W/out.zip" "$W/out.stvault" | awk '{print $5, $9}'
