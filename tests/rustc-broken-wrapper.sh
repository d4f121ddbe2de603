#!/usr/bin/env bash
# RUSTC_WRAPPER for tests/negative-controls.sh: adds
# --cfg snap_broken="$SNAP_BROKEN" to snap's own crates only, so the
# dependencies are not rebuilt for every broken variant.
rustc=$1
shift
case " $* " in
*" --crate-name snap_store "* | *" --crate-name snap_engine "*)
    if [ -n "${SNAP_BROKEN:-}" ]; then
        exec "$rustc" "$@" --cfg "snap_broken=\"$SNAP_BROKEN\""
    fi
    ;;
esac
exec "$rustc" "$@"
