#!/usr/bin/env bash
# benches/compare.sh: snap vs restic vs borg on the same profile-like corpus.
#
# Usage (from the repository root):
#     bash benches/compare.sh
#
# Environment (all optional):
#     BENCH_DIR=/tmp/snap-bench   working directory (corpus, repositories, restores)
#     RUNS=5                      full cycles per tool; medians are reported
#     TOOLS="snap restic borg"    which tools to run; add "snap-enc" for snap on an
#                                 encrypted repository (`init --encrypt`, password
#                                 $SNAP_PASSWORD, index under $BENCH_DIR/cache; every
#                                 command pays one Argon2id unlock; SNAP_ARGON2 applies)
#     SEED=1 SCALE=1.0            corpus parameters (SCALE=0.09 gives ~20 MB)
#     CORPUS=/path                use this existing tree instead of generating one
#                                 (e.g. a copy of /usr/share for the RSS target);
#                                 the small change is then not applied (the
#                                 small-change and growth columns show "-")
#     SNAP=/path/to/snap          snap binary (default: $CARGO_TARGET_DIR/release/snap,
#                                 else target/release/snap; build it with
#                                 `cargo build --release -p snap-cli`)
#     BUILD=1                     build snap first with `cargo build --release -p snap-cli`
#
# One cycle, per tool, on a fresh copy of the corpus (`cp -a`, so the data is
# in the page cache: caches cannot be dropped here, so every timed step runs
# warm, for every tool alike) and a fresh repository and tool cache:
#   1. first snapshot               (snap initialises the repository itself;
#                                    restic/borg `init` is not timed)
#   2. no-change snapshot           (same path, nothing changed)
#   3. small change                 (`gen_corpus.py --mutate`: a few JSON
#                                    settings, 200 inserts + 50 updates in the
#                                    60 MB SQLite database, +2 images, -1 image)
#      then a snapshot; "growth" is the repository's size after minus before
#      (du -sb, apparent bytes)
#   4. full restore of the latest snapshot into an empty directory
#      (checked against the source with diff -r in the first cycle)
#   5. repository size (du -sb) at the end
# Wall time comes from `date +%s.%N` around the command; peak RSS from
# `/usr/bin/time -v` ("Maximum resident set size"), the maximum over the three
# snapshot steps ("RSS create") and the restore ("RSS restore").
# A warm-up first snapshot per tool (into a throwaway repository) runs before
# the timed cycles so that binaries and the corpus are cached.
#
# Tool settings (noted in the output):
#   restic: password from RESTIC_PASSWORD (0.14 has no --insecure-no-password),
#           repository format of `restic init` (0.14: v2, compression auto),
#           default local cache (RESTIC_CACHE_DIR under BENCH_DIR).
#   borg:   `borg init --encryption=none`, `borg create --compression zstd,3`,
#           default files and chunks caches (BORG_BASE_DIR under BENCH_DIR).
#   snap:   the fixed CLI contract: `snap --repo DIR create PATH`,
#           `snap --repo DIR restore latest --target DIR`, `snap --repo DIR stats --json`.
# Missing restic/borg/time are installed with apt-get when running as root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/snap-bench}"
RUNS="${RUNS:-5}"
TOOLS="${TOOLS:-snap restic borg}"
SEED="${SEED:-1}"
SCALE="${SCALE:-1.0}"
CORPUS="${CORPUS:-}"
GEN="$HERE/gen_corpus.py"

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

# ------------------------------------------------------------ prerequisites
need_pkgs=()
command -v restic >/dev/null || [[ " $TOOLS " != *" restic "* ]] || need_pkgs+=(restic)
command -v borg >/dev/null || [[ " $TOOLS " != *" borg "* ]] || need_pkgs+=(borgbackup)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
if ((${#need_pkgs[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${need_pkgs[*]}"
        apt-get update -qq >/dev/null && apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        die "missing ${need_pkgs[*]}: install them (apt-get install restic borgbackup time)"
    fi
fi

if [[ " $TOOLS " == *" snap "* || " $TOOLS " == *" snap-enc "* ]]; then
    if [[ "${BUILD:-0}" == 1 ]]; then
        (cd "$ROOT" && cargo build --release -p snap-cli) >&2
    fi
    if [[ -z "${SNAP:-}" ]]; then
        SNAP="${CARGO_TARGET_DIR:-$ROOT/target}/release/snap"
        [[ -x "$SNAP" ]] || SNAP="$ROOT/target/release/snap"
    fi
    if [[ ! -x "$SNAP" ]]; then
        log "compare.sh: SKIPPING snap: no binary at $SNAP (build it with: cargo build --release -p snap-cli, or set SNAP=/path/to/snap)"
        TOOLS="${TOOLS//snap/}"
    fi
fi

mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
export RESTIC_PASSWORD="snap-bench"
export SNAP_PASSWORD="snap-bench-password"
export XDG_CACHE_HOME="$BENCH_DIR/cache/xdg"
export RESTIC_CACHE_DIR="$BENCH_DIR/cache/restic"
export BORG_BASE_DIR="$BENCH_DIR/cache/borg"
export BORG_PASSPHRASE=""
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

# ------------------------------------------------------------------- corpus
MUTATE=1
if [[ -n "$CORPUS" ]]; then
    [[ -d "$CORPUS" ]] || die "CORPUS=$CORPUS is not a directory"
    CORPUS="$(cd "$CORPUS" && pwd)"
    [[ -f "$CORPUS/places.sqlite" ]] || MUTATE=0
else
    CORPUS="$BENCH_DIR/corpus-s${SEED}-x${SCALE}"
    if [[ ! -f "$CORPUS/.complete" ]]; then
        rm -rf "$CORPUS"
        python3 "$GEN" "$CORPUS" --seed "$SEED" --scale "$SCALE" >&2
        touch -d @1700000000 "$CORPUS/.complete"
    fi
fi
corpus_bytes=$(find "$CORPUS" -type f ! -name .complete -printf '%s\n' | awk '{s += $1} END {print s}')
corpus_files=$(find "$CORPUS" -type f ! -name .complete | wc -l)

SRC="$BENCH_DIR/src"         # the directory every tool backs up (same path)
REPO="$BENCH_DIR/repo"
TARGET="$BENCH_DIR/restore"
RES="$BENCH_DIR/results"

reset_src() {
    rm -rf "$SRC"
    cp -a "$CORPUS" "$SRC"
    rm -f "$SRC/.complete"
}

# timed NAME: runs "${CMD[@]}", appends "NAME seconds rss_kb" to $RES/$tool
timed() {
    local name=$1 t0 t1 rss rc=0
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$BENCH_DIR/time.out" "${CMD[@]}" >"$BENCH_DIR/cmd.out" 2>"$BENCH_DIR/cmd.err" || rc=$?
    if ((rc != 0)); then
        log "compare.sh: $tool: '${CMD[*]}' failed (exit $rc):"
        tail -5 "$BENCH_DIR/cmd.err" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$BENCH_DIR/time.out")
    echo "$name $(echo "$t1 - $t0" | bc -l) $rss" >>"$RES/$tool"
}

record() { echo "$1 $2 0" >>"$RES/$tool"; }
repo_size() { du -sb "$REPO" | cut -f1; }

# Per-tool commands. SRC and REPO are fixed paths; N is the cycle's snapshot
# counter (borg needs archive names).
tool_init() {
    case $tool in
        snap) ;;  # `create` initialises the repository
        snap-enc) "$SNAP" --repo "$REPO" init --encrypt >/dev/null ;;
        restic) restic -r "$REPO" init >/dev/null ;;
        borg) borg init --encryption=none "$REPO" >/dev/null ;;
    esac
}
backup_cmd() {  # $1: archive number; sets CMD
    case $tool in
        snap | snap-enc) CMD=("$SNAP" --repo "$REPO" create "$SRC") ;;
        restic) CMD=(restic -r "$REPO" backup --quiet "$SRC") ;;
        borg) CMD=(borg create --compression zstd,3 "$REPO::s$1" "$SRC") ;;
    esac
}
restore_cmd() {  # $1: archive number of the latest snapshot; sets CMD (run in $TARGET)
    case $tool in
        snap | snap-enc) CMD=("$SNAP" --repo "$REPO" restore latest --target "$TARGET") ;;
        restic) CMD=(restic -r "$REPO" restore latest --target "$TARGET") ;;
        borg) CMD=(borg extract "$REPO::s$1") ;;
    esac
}
restored_root() {  # where the restored copy of SRC lands
    case $tool in
        snap | snap-enc) echo "$TARGET" ;;
        restic | borg) echo "$TARGET$SRC" ;;
    esac
}
tool_version() {
    case $tool in
        snap) "$SNAP" --version 2>/dev/null || echo "snap (version unknown)" ;;
        snap-enc) echo "$("$SNAP" --version 2>/dev/null || echo snap) encrypted" ;;
        restic) restic version | cut -d' ' -f1-2 ;;
        borg) borg --version ;;
    esac
}
clean_tool_state() { rm -rf "$REPO" "$TARGET" "$BENCH_DIR/cache"; }

# ------------------------------------------------------------------- cycles
rm -rf "$RES"; mkdir -p "$RES"
declare -A verified
for tool in $TOOLS; do
    log "== $tool: warm-up"
    reset_src; clean_tool_state; tool_init
    backup_cmd 0
    "${CMD[@]}" >/dev/null 2>&1 || die "$tool: warm-up backup failed: ${CMD[*]}"
    : >"$RES/$tool"
    for ((r = 1; r <= RUNS; r++)); do
        log "== $tool: cycle $r/$RUNS"
        reset_src; clean_tool_state; tool_init
        backup_cmd 1; timed first
        backup_cmd 2; timed nochange
        if ((MUTATE)); then
            before=$(repo_size)
            python3 "$GEN" "$SRC" --mutate --seed "$SEED" >/dev/null
            backup_cmd 3; timed change
            record growth $(($(repo_size) - before))
            last=3
        else
            last=2
        fi
        mkdir -p "$TARGET"
        restore_cmd $last; (cd "$TARGET" && timed restore)
        record size "$(repo_size)"
        if ((r == 1)); then
            if diff -r "$SRC" "$(restored_root)" >"$BENCH_DIR/diff.out" 2>&1; then
                verified[$tool]=yes
            else
                verified[$tool]="NO ($(wc -l <"$BENCH_DIR/diff.out") diff lines, see $BENCH_DIR/diff.out)"
                log "compare.sh: $tool: restored tree differs from the source"
            fi
        fi
    done
done
rm -rf "$SRC" "$TARGET" "$REPO"

# ------------------------------------------------------------------ report
median() {  # median of field $3 (2=time, 3=rss) for step $2 in file $1
    awk -v s="$2" -v f="$3" '$1 == s {print $f}' "$1" | sort -g |
        awk '{a[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) printf "%.6f\n", a[(NR + 1) / 2]; else printf "%.6f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
maxof() { awk -v s="$2" '$1 == s {print $3}' "$1" | sort -g | tail -1; }
fmt_s() { [[ -n "$1" ]] && printf '%.2f s' "$1" || printf -- '-'; }
fmt_mb() { [[ -n "$1" ]] && printf '%.1f MB' "$(echo "$1 / 1000000" | bc -l)" || printf -- '-'; }
fmt_kb() { [[ -n "$1" ]] && printf '%.0f MB' "$(echo "$1 / 1024" | bc -l)" || printf -- '-'; }
ratio() { [[ -n "$1" && -n "$2" && "$2" != 0 ]] && printf '%.2f' "$(echo "$1 / $2" | bc -l)" || printf 'n/a'; }

declare -A V
cols=(first nochange change growth restore size rsscreate rssrestore)
for tool in $TOOLS; do
    f="$RES/$tool"
    V[$tool,first]=$(median "$f" first 2)
    V[$tool,nochange]=$(median "$f" nochange 2)
    V[$tool,change]=$(median "$f" change 2)
    V[$tool,growth]=$(median "$f" growth 2)
    V[$tool,restore]=$(median "$f" restore 2)
    V[$tool,size]=$(median "$f" size 2)
    rc=0
    for s in first nochange change; do
        m=$(maxof "$f" $s); [[ -n "$m" ]] && ((m > rc)) && rc=$m
    done
    V[$tool,rsscreate]=$rc
    V[$tool,rssrestore]=$(maxof "$f" restore)
done

echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "Corpus: $CORPUS ($corpus_files files, $(fmt_mb "$corpus_bytes")); small change: $( ((MUTATE)) && echo "gen_corpus.py --mutate --seed $SEED" || echo "none (not a generated corpus)")"
echo "Runs: $RUNS cycles per tool, medians; page cache warm (cannot drop caches), one warm-up snapshot per tool"
for tool in $TOOLS; do echo "- $(tool_version | head -1); restore verified with diff -r: ${verified[$tool]:-?}"; done
echo "- restic: RESTIC_PASSWORD set (0.14 requires a password: repository encrypted), default cache; borg: --encryption=none, --compression zstd,3, default caches"
echo
echo "| tool | first snapshot | no-change snapshot | small-change snapshot | repo growth (small change) | full restore | repo size | peak RSS create | peak RSS restore |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for tool in $TOOLS; do
    echo "| $tool | $(fmt_s "${V[$tool,first]}") | $(fmt_s "${V[$tool,nochange]}") | $(fmt_s "${V[$tool,change]}") | $(fmt_mb "${V[$tool,growth]}") | $(fmt_s "${V[$tool,restore]}") | $(fmt_mb "${V[$tool,size]}") | $(fmt_kb "${V[$tool,rsscreate]}") | $(fmt_kb "${V[$tool,rssrestore]}") |"
done
if [[ " $TOOLS " == *" restic "* ]]; then
    row="| snap/restic |"
    for c in "${cols[@]}"; do
        if [[ " $TOOLS " == *" snap "* ]]; then
            row+=" $(ratio "${V[snap,$c]:-}" "${V[restic,$c]:-}") |"
        else
            row+=" n/a |"
        fi
    done
    echo "$row"
fi
echo
echo "Targets (issue 3): snap/restic no-change <= 0.05, first <= 0.5, growth <= 0.33, restore <= 0.67; peak RSS < 100 MB on a 650 MB /usr/share copy."
