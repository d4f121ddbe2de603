#!/usr/bin/env bash
# benches/compare.sh: snap against restic, rustic and borg, and against the
# machine's own limits, on a profile-like corpus and on a many-small-files
# corpus (a copy of /usr/share).
#
# Usage (from the repository root):
#     bash benches/compare.sh
#
# Environment (all optional):
#     BENCH_DIR=/tmp/snap-bench   working directory (corpora, repositories, restores)
#     RUNS=3                      timed cycles per tool and corpus; medians are reported
#     CORPORA="profile usr-share" which corpora: `profile` (gen_corpus.py, with the
#                                 small change), `usr-share` (a copy of /usr/share,
#                                 made once in BENCH_DIR), or a path to any tree
#     TOOLS="snap restic rustic borg"
#                                 which tools (default: every one installed; rustic
#                                 only when installed or INSTALL_RUSTIC=1); `snap-enc`
#                                 is snap on an encrypted repository (`init --encrypt`
#                                 with the password from a file and default Argon2
#                                 parameters, untimed as the others' init; then
#                                 `snap key cache`, timed as "unlock" and reported in a
#                                 note; the timed commands use the cached keys, as a
#                                 user running snap by hand after `key cache` does)
#     STORE=local                 `s3`: every repository on an S3-compatible store
#                                 instead of BENCH_DIR (snap `s3://`, restic `s3:`,
#                                 rustic `opendal:s3` through a profile file in BENCH_DIR),
#                                 a fresh prefix per cycle, deleted
#                                 after it; needs AWS_ENDPOINT_URL, the AWS credentials
#                                 and S3_BENCH_BUCKET (default $SNAP_TEST_S3_BUCKET; the
#                                 bucket must exist), and the `aws` CLI (to measure and
#                                 delete prefixes). borg has no S3 backend: left out.
#     INSTALL_RUSTIC=1            install rustic with `cargo install rustic-rs --locked`
#                                 (takes 15+ minutes on 2 cores) when it is missing
#     SEED=1 SCALE=1.0            profile corpus parameters (SCALE=0.09 gives ~20 MB)
#     SNAP=/path/to/snap          snap binary (default: $CARGO_TARGET_DIR/release/snap,
#                                 else target/release/snap)
#     BUILD=1                     build snap first with `cargo build --release -p snap-cli`
#     RESTORE_FS=auto             `fresh`: every restore and every `cp -a` of the limits
#                                 writes into an ext4 filesystem made for it (a loop-mounted
#                                 image in BENCH_DIR, inode tables initialised by mkfs);
#                                 `dir`: into BENCH_DIR itself; `auto` (default): `fresh`
#                                 when running as root with mkfs.ext4 and a free loop
#                                 device. Why: ext4 skips inodes freed in the last seconds
#                                 to minutes (`recently_deleted`), so creating 45 000 files
#                                 right after deleting the previous restore's 45 000 took
#                                 3 to 8 times as long here, for every tool and for `cp -a`,
#                                 by an amount that depends on what ran just before.
#
# One cycle, per tool, with a fresh repository and tool cache:
#   1. first snapshot               (snap initialises the repository itself;
#                                    the others' `init` is not timed)
#   2. no-change snapshot           (same path, nothing changed)
#   3. small change (profile only)  (`gen_corpus.py --mutate`: a few JSON
#                                    settings, 200 inserts + 50 updates in the
#                                    60 MB SQLite database, +2 images, -1 image)
#      then a snapshot; "growth" is the repository's size after minus before
#   4. full restore of the latest snapshot into an empty directory
#      (checked against the source with diff -r in the first cycle)
#   5. repository size (du -sb) at the end
# The profile corpus is copied afresh (`cp -a`) before each cycle because the
# small change alters it; /usr/share is copied once. Everything runs with a
# warm page cache (caches cannot be dropped here), for every tool alike, and
# one warm-up snapshot per tool runs first.
#
# The limits, measured in the same run, RUNS times each, medians:
#   stat walk   `find SRC -printf '%s %T@'`: one stat of every entry, the floor
#               of a no-change snapshot
#   cp -a       `cp -a SRC DIR`: a plain copy, the floor of a first snapshot's
#               reading and of a restore's writing
# Wall time from `date +%s.%N` around the command; peak RSS from
# `/usr/bin/time -v` ("Maximum resident set size").
#
# Tool settings (noted in the output):
#   restic: password from RESTIC_PASSWORD (0.14 has no --insecure-no-password),
#           repository format of `restic init`, default cache under BENCH_DIR.
#   rustic: password from RUSTIC_PASSWORD, repository of `rustic init`, cache
#           under BENCH_DIR (--cache-dir), --no-progress.
#   borg:   `borg init --encryption=none`, `borg create --compression zstd,3`,
#           default files and chunks caches (BORG_BASE_DIR under BENCH_DIR).
#   snap:   the fixed CLI contract: `snap --repo DIR create PATH`,
#           `snap --repo DIR restore latest --target DIR`.
# Adding a column (e.g. an encrypted snap repository) takes one line in each
# of the tool_* functions below and a name in TOOLS.
# Missing restic/borg/time are installed with apt-get when running as root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/snap-bench}"
RUNS="${RUNS:-3}"
CORPORA="${CORPORA:-profile usr-share}"
SEED="${SEED:-1}"
SCALE="${SCALE:-1.0}"
GEN="$HERE/gen_corpus.py"

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

# ------------------------------------------------------------ prerequisites
if [[ -z "${TOOLS:-}" ]]; then
    TOOLS="snap restic"
    if command -v rustic >/dev/null || [[ "${INSTALL_RUSTIC:-0}" == 1 ]]; then
        TOOLS+=" rustic"
    else
        log "compare.sh: rustic is not installed: leaving it out (INSTALL_RUSTIC=1 installs it)"
    fi
    TOOLS+=" borg"
fi
STORE="${STORE:-local}"
if [[ $STORE == s3 ]]; then
    TOOLS="${TOOLS/borg/}"
    S3_BENCH_BUCKET="${S3_BENCH_BUCKET:-${SNAP_TEST_S3_BUCKET:-}}"
    [[ -n "$S3_BENCH_BUCKET" && -n "${AWS_ENDPOINT_URL:-}" ]] ||
        die "STORE=s3 needs AWS_ENDPOINT_URL and S3_BENCH_BUCKET (eval \"\$(bash tests/seaweedfs.sh env)\" sets both)"
    command -v aws >/dev/null || die "STORE=s3 needs the aws CLI (pip install awscli)"
    export AWS_REGION="${AWS_REGION:-us-east-1}"
fi
has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }

need_pkgs=()
command -v restic >/dev/null || ! has_tool restic || need_pkgs+=(restic)
command -v borg >/dev/null || ! has_tool borg || need_pkgs+=(borgbackup)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
command -v bc >/dev/null || need_pkgs+=(bc)
if ((${#need_pkgs[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${need_pkgs[*]}"
        apt-get update -qq >/dev/null && apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        die "missing ${need_pkgs[*]}: install them (apt-get install restic borgbackup time bc)"
    fi
fi
if has_tool rustic && ! command -v rustic >/dev/null; then
    [[ "${INSTALL_RUSTIC:-0}" == 1 ]] ||
        die "rustic is not installed: run with INSTALL_RUSTIC=1, or leave it out of TOOLS"
    log "installing rustic with cargo install rustic-rs --locked (this takes a while)"
    cargo install rustic-rs --locked >&2
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

if has_tool snap || has_tool snap-enc; then
    if [[ "${BUILD:-0}" == 1 ]]; then
        (cd "$ROOT" && cargo build --release -p snap-cli) >&2
    fi
    if [[ -z "${SNAP:-}" ]]; then
        SNAP="${CARGO_TARGET_DIR:-$ROOT/target}/release/snap"
        [[ -x "$SNAP" ]] || SNAP="$ROOT/target/release/snap"
    fi
    [[ -x "$SNAP" ]] ||
        die "no snap binary at $SNAP (build it with: cargo build --release -p snap-cli, or set SNAP=/path/to/snap)"
fi

mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
export RESTIC_PASSWORD="snap-bench"
export RESTIC_CACHE_DIR="$BENCH_DIR/cache/restic"
export RUSTIC_PASSWORD="snap-bench"
export BORG_BASE_DIR="$BENCH_DIR/cache/borg"
export BORG_PASSPHRASE=""
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
# snap's state directory (index of an encrypted or remote repository):
# under BENCH_DIR, so each cycle starts without it as the others do.
export XDG_CACHE_HOME="$BENCH_DIR/cache/xdg"
echo "snap-bench-password" >"$BENCH_DIR/snap-password"

SRC="$BENCH_DIR/src"       # the directory every tool backs up (same path)
REPO="$BENCH_DIR/repo"
RESTORE_FS="${RESTORE_FS:-auto}"
if [[ $RESTORE_FS == auto ]]; then
    if [[ $(id -u) == 0 ]] && command -v mkfs.ext4 >/dev/null && losetup -f >/dev/null 2>&1; then
        RESTORE_FS=fresh
    else
        RESTORE_FS=dir
    fi
fi
FS_MNT="$BENCH_DIR/fresh-fs"
FS_IMG="$BENCH_DIR/fresh-fs.img"
FS_BYTES=$((2 << 30))   # set per corpus: three times its size, at least 2 GiB
# A fresh filesystem holds `lost+found`, so restores go one level down.
if [[ $RESTORE_FS == fresh ]]; then TARGET="$FS_MNT/restore"; else TARGET="$BENCH_DIR/restore"; fi
drop_fs() {
    [[ $RESTORE_FS == fresh ]] || return 0
    if mountpoint -q "$FS_MNT"; then umount "$FS_MNT"; fi
    rm -f "$FS_IMG"
}
fresh_fs() {  # an empty ext4 filesystem at FS_MNT (with RESTORE_FS=fresh)
    [[ $RESTORE_FS == fresh ]] || return 0
    drop_fs
    truncate -s "$FS_BYTES" "$FS_IMG"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$FS_IMG"
    mkdir -p "$FS_MNT"
    mount -o loop "$FS_IMG" "$FS_MNT"
    sync  # mkfs's inode tables are not written back during the timed command
}
trap drop_fs EXIT
RES="$BENCH_DIR/results"

# ---------------------------------------------------------- tool dispatch
# Each function takes the tool in $tool; backup/restore set CMD.
# The repository: $REPO, or with STORE=s3 the prefix $PREFIX of the bucket
# in each tool's own syntax (rustic: OpenDAL's S3 service, options below).
PREFIX=""
cycle_no=0
snap_repo() { [[ $STORE == s3 ]] && echo "s3://$S3_BENCH_BUCKET/$PREFIX" || echo "$REPO"; }
restic_repo() { [[ $STORE == s3 ]] && echo "s3:$AWS_ENDPOINT_URL/$S3_BENCH_BUCKET/$PREFIX" || echo "$REPO"; }
rustic_repo() {
    if [[ $STORE == s3 ]]; then
        # rustic 0.11 takes OpenDAL's options from a profile file, not flags.
        cat >"$BENCH_DIR/rustic-s3.toml" <<TOML
[repository]
repository = "opendal:s3"

[repository.options]
bucket = "$S3_BENCH_BUCKET"
root = "/$PREFIX"
endpoint = "$AWS_ENDPOINT_URL"
region = "$AWS_REGION"
access_key_id = "$AWS_ACCESS_KEY_ID"
secret_access_key = "$AWS_SECRET_ACCESS_KEY"
TOML
        echo -P "$BENCH_DIR/rustic-s3"
    else
        echo -r "$REPO"
    fi
}
SNAP_ENC_ARGS=(--password-file "$BENCH_DIR/snap-password")
# The key cache of snap-enc: the session's runtime directory (RAM) when it
# is private, else a private directory in BENCH_DIR.
if [[ -z "${XDG_RUNTIME_DIR:-}" || ! -O "${XDG_RUNTIME_DIR:-}" || "$(stat -c %a "$XDG_RUNTIME_DIR")" != 700 ]]; then
    export XDG_RUNTIME_DIR="$BENCH_DIR/runtime"
    mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
fi
unset SNAP_PASSWORD
tool_init() {
    case $tool in
        snap) ;;  # `create` initialises the repository
        snap-enc) "$SNAP" --repo "$(snap_repo)" "${SNAP_ENC_ARGS[@]}" init --encrypt >/dev/null ;;
        restic) restic -r "$(restic_repo)" init >/dev/null ;;
        # shellcheck disable=SC2046 # rustic_repo's words are separate arguments
        rustic) rustic $(rustic_repo) --no-progress init >/dev/null 2>&1 ;;
        borg) borg init --encryption=none "$REPO" >/dev/null ;;
    esac
}
tool_backup() {  # $1: archive number
    case $tool in
        snap) CMD=("$SNAP" --repo "$(snap_repo)" create "$SRC") ;;
        snap-enc) CMD=("$SNAP" --repo "$(snap_repo)" create "$SRC") ;;
        restic) CMD=(restic -r "$(restic_repo)" backup --quiet "$SRC") ;;
        # shellcheck disable=SC2046
        rustic) CMD=(rustic $(rustic_repo) --no-progress --cache-dir "$BENCH_DIR/cache/rustic" backup "$SRC") ;;
        borg) CMD=(borg create --compression zstd,3 "$REPO::s$1" "$SRC") ;;
    esac
}
tool_restore() {  # $1: archive number of the latest snapshot; run in $TARGET
    case $tool in
        snap) CMD=("$SNAP" --repo "$(snap_repo)" restore latest --target "$TARGET") ;;
        snap-enc) CMD=("$SNAP" --repo "$(snap_repo)" restore latest --target "$TARGET") ;;
        restic) CMD=(restic -r "$(restic_repo)" restore latest --target "$TARGET") ;;
        # shellcheck disable=SC2046
        rustic) CMD=(rustic $(rustic_repo) --no-progress --cache-dir "$BENCH_DIR/cache/rustic" restore latest "$TARGET") ;;
        borg) CMD=(borg extract "$REPO::s$1") ;;
    esac
}
tool_unlock() {  # $1: results file ("unlock" timed), or empty: untimed
    [[ $tool == snap-enc ]] || return 0
    CMD=("$SNAP" --repo "$(snap_repo)" "${SNAP_ENC_ARGS[@]}" key cache --for 1h)
    if [[ -n $1 ]]; then timed "$1" unlock; else "${CMD[@]}" >/dev/null; fi
}
tool_restored_root() {  # where the restored copy of SRC lands
    case $tool in
        snap | snap-enc) echo "$TARGET" ;;
        restic | borg) echo "$TARGET$SRC" ;;
        rustic) if [[ -d "$TARGET$SRC" ]]; then echo "$TARGET$SRC"; else echo "$TARGET"; fi ;;
    esac
}
tool_version() {
    case $tool in
        snap) "$SNAP" --version 2>/dev/null || echo "snap (version unknown)" ;;
        snap-enc) echo "snap-enc: $("$SNAP" --version 2>/dev/null), encrypted (AES-256-GCM, keyed blake3 ids), Argon2 default" ;;
        restic) restic version | cut -d' ' -f1-2 ;;
        rustic) rustic --version ;;
        borg) borg --version ;;
    esac
}
clean_tool_state() {
    if [[ $RESTORE_FS == fresh ]]; then
        drop_fs
    else
        chmod -R u+w "$TARGET" 2>/dev/null || true
        rm -rf "$TARGET"
    fi
    rm -rf "$REPO" "$BENCH_DIR/cache" "$XDG_RUNTIME_DIR/snap/keys"
    if [[ $STORE == s3 ]]; then
        [[ -n $PREFIX ]] && aws s3 rm --quiet --recursive "s3://$S3_BENCH_BUCKET/$PREFIX/" >/dev/null
        cycle_no=$((cycle_no + 1))
        PREFIX="bench-$$-${tool:-none}-$cycle_no"
    fi
}

# ----------------------------------------------------------------- timing
# timed FILE NAME: runs "${CMD[@]}", appends "NAME seconds rss_kb" to FILE
timed() {
    local file=$1 name=$2 t0 t1 rss rc=0
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$BENCH_DIR/time.out" "${CMD[@]}" >"$BENCH_DIR/cmd.out" 2>"$BENCH_DIR/cmd.err" || rc=$?
    t1=$(date +%s.%N)
    if ((rc != 0)); then
        log "compare.sh: '${CMD[*]}' failed (exit $rc):"
        tail -5 "$BENCH_DIR/cmd.err" >&2
        exit 1
    fi
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$BENCH_DIR/time.out")
    echo "$name $(echo "$t1 - $t0" | bc -l) $rss" >>"$file"
}
record() { echo "$2 $3 0" >>"$1"; }
repo_size() {
    if [[ $STORE == s3 ]]; then
        aws s3 ls --recursive --summarize "s3://$S3_BENCH_BUCKET/$PREFIX/" | awk '/Total Size/ {print $3}'
    else
        du -sb "$REPO" | cut -f1
    fi
}

# ----------------------------------------------------------------- corpora
prepare_corpus() {  # $1: corpus name; sets CORPUS and MUTATE
    MUTATE=0
    case $1 in
        profile)
            CORPUS="$BENCH_DIR/corpus-s${SEED}-x${SCALE}"
            if [[ ! -f "$CORPUS/.complete" ]]; then
                rm -rf "$CORPUS"
                python3 "$GEN" "$CORPUS" --seed "$SEED" --scale "$SCALE" >&2
                touch -d @1700000000 "$CORPUS/.complete"
            fi
            MUTATE=1
            ;;
        usr-share)
            CORPUS="$BENCH_DIR/corpus-usr-share"
            if [[ ! -f "$CORPUS/.complete" ]]; then
                rm -rf "$CORPUS"
                log "copying /usr/share to $CORPUS"
                cp -a /usr/share "$CORPUS"
                touch -d @1700000000 "$CORPUS/.complete"
            fi
            ;;
        *)
            [[ -d "$1" ]] || die "corpus $1 is neither profile, usr-share nor a directory"
            CORPUS="$(cd "$1" && pwd)"
            [[ -f "$CORPUS/places.sqlite" ]] && MUTATE=1
            ;;
    esac
}
reset_src() {
    chmod -R u+w "$SRC" 2>/dev/null || true
    rm -rf "$SRC"
    cp -a "$CORPUS" "$SRC"
    rm -f "$SRC/.complete"
    # The copy's writeback would otherwise land on whichever tool runs next.
    sync
}

# The machine's limits on this corpus, in this run.
measure_limits() {  # $1: results file
    local i copy="$BENCH_DIR/limit-copy"
    [[ $RESTORE_FS == fresh ]] && copy="$FS_MNT/limit-copy"
    for ((i = 1; i <= RUNS; i++)); do
        CMD=(find "$SRC" -printf '%s %T@\n'); timed "$1" stat
        rm -rf "$copy"
        fresh_fs
        CMD=(cp -a "$SRC" "$copy"); timed "$1" cp
        chmod -R u+w "$copy" 2>/dev/null || true
        rm -rf "$copy"
    done
    drop_fs
}

run_tool() {  # $1: results file; $tool set
    local f=$1 r last before
    log "== $corpus_name: $tool: warm-up"
    ((MUTATE)) && reset_src
    clean_tool_state; tool_init; tool_unlock ""
    tool_backup 0
    "${CMD[@]}" >/dev/null 2>&1 || die "$tool: warm-up backup failed: ${CMD[*]}"
    : >"$f"
    for ((r = 1; r <= RUNS; r++)); do
        log "== $corpus_name: $tool: cycle $r/$RUNS"
        ((MUTATE)) && reset_src
        clean_tool_state; tool_init; tool_unlock "$f"
        tool_backup 1; timed "$f" first
        tool_backup 2; timed "$f" nochange
        last=2
        if ((MUTATE)); then
            before=$(repo_size)
            python3 "$GEN" "$SRC" --mutate --seed "$SEED" >/dev/null
            tool_backup 3; timed "$f" change
            record "$f" growth $(($(repo_size) - before))
            last=3
        fi
        fresh_fs
        mkdir -p "$TARGET"
        tool_restore $last; (cd "$TARGET" && timed "$f" restore)
        record "$f" size "$(repo_size)"
        if ((r == 1)); then
            if diff -r --no-dereference "$SRC" "$(tool_restored_root)" >"$BENCH_DIR/diff.out" 2>&1; then
                verified[$corpus_name,$tool]=yes
            else
                verified[$corpus_name,$tool]="NO ($(wc -l <"$BENCH_DIR/diff.out") diff lines)"
                log "compare.sh: $tool: restored tree differs from the source (see $BENCH_DIR/diff.out)"
                cp "$BENCH_DIR/diff.out" "$BENCH_DIR/diff-$corpus_name-$tool.out"
            fi
        fi
    done
}

# ------------------------------------------------------------------ report
median() {  # median of field $3 (2=time, 3=rss) for step $2 in file $1
    [[ -f "$1" ]] || { echo ""; return; }
    awk -v s="$2" -v f="$3" '$1 == s {print $f}' "$1" | sort -g |
        awk '{a[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) printf "%.6f\n", a[(NR + 1) / 2]; else printf "%.6f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
maxof() { [[ -f "$1" ]] && awk -v s="$2" '$1 == s {print $3}' "$1" | sort -g | tail -1 || true; }
fmt() {  # $1: kind (s, mb, kb), $2: value
    [[ -n "$2" ]] || { printf -- '-'; return; }
    case $1 in
        s) printf '%.3f s' "$2" ;;
        mb) printf '%.1f MB' "$(echo "$2 / 1000000" | bc -l)" ;;
        kb) printf '%.0f MB' "$(echo "$2 / 1024" | bc -l)" ;;
    esac
}
ratio() { [[ -n "$1" && -n "$2" && "$2" != 0 && "$2" != 0.000000 ]] && printf '%.2f' "$(echo "$1 / $2" | bc -l)" || printf 'n/a'; }

report_corpus() {  # $1: corpus name; prints its two tables
    local c=$1 d="$RES/$1" step t v lim row peers=()
    for t in $TOOLS; do [[ $t == snap ]] || peers+=("$t"); done
    declare -A V
    for t in $TOOLS; do
        for step in first nochange change growth restore size unlock; do
            V[$t,$step]=$(median "$d/$t" $step 2)
        done
        V[$t,rss_first]=$(maxof "$d/$t" first)
        V[$t,rss_nochange]=$(maxof "$d/$t" nochange)
        V[$t,rss_change]=$(maxof "$d/$t" change)
        V[$t,rss_restore]=$(maxof "$d/$t" restore)
    done
    local lim_stat lim_cp
    lim_stat=$(median "$d/limits" stat 2)
    lim_cp=$(median "$d/limits" cp 2)
    echo
    echo "Corpus \`$c\`: ${info[$c]}"
    echo
    row="| step |"; for t in $TOOLS; do row+=" $t |"; done; row+=" limit on this machine |"; echo "$row"
    row="|---|"; for t in $TOOLS; do row+="---:|"; done; row+="---|"; echo "$row"
    local steps=(first nochange)
    [[ -n "${V[snap,change]:-}${V[${peers[0]:-x},change]:-}" ]] && steps+=(change growth)
    steps+=(restore size rss_first rss_nochange)
    [[ -n "${V[snap,change]:-}${V[${peers[0]:-x},change]:-}" ]] && steps+=(rss_change)
    steps+=(rss_restore)
    for step in "${steps[@]}"; do
        case $step in
            first) row="| first snapshot |"; lim="\`cp -a\` $(fmt s "$lim_cp")" ;;
            nochange) row="| no-change snapshot |"; lim="stat of every entry: $(fmt s "$lim_stat")" ;;
            change) row="| small-change snapshot |"; lim="" ;;
            growth) row="| repo growth (small change) |"; lim="" ;;
            restore) row="| full restore |"; lim="\`cp -a\` $(fmt s "$lim_cp")" ;;
            size) row="| repo size |"; lim="" ;;
            rss_first) row="| peak RSS first snapshot |"; lim="" ;;
            rss_nochange) row="| peak RSS no-change |"; lim="" ;;
            rss_change) row="| peak RSS small change |"; lim="" ;;
            rss_restore) row="| peak RSS restore |"; lim="" ;;
        esac
        for t in $TOOLS; do
            v=${V[$t,$step]:-}
            case $step in
                growth | size) row+=" $(fmt mb "$v") |" ;;
                rss_*) row+=" $(fmt kb "$v") |" ;;
                *) row+=" $(fmt s "$v") |" ;;
            esac
        done
        echo "$row $lim |"
    done
    if has_tool snap && has_tool snap-enc; then
        echo
        echo "snap-enc/snap (encrypted over plain): first $(ratio "${V[snap-enc,first]:-}" "${V[snap,first]:-}"), no-change $(ratio "${V[snap-enc,nochange]:-}" "${V[snap,nochange]:-}"), small change $(ratio "${V[snap-enc,change]:-}" "${V[snap,change]:-}"), restore $(ratio "${V[snap-enc,restore]:-}" "${V[snap,restore]:-}"); snap-enc's commands use the keys of \`snap key cache\`, whose one-time unlock (Argon2id) took $(fmt s "${V[snap-enc,unlock]:-}") (median)."
    fi
    if has_tool snap; then
        echo
        row="| ratio |"; for t in "${peers[@]}"; do row+=" snap/$t |"; done; row+=" snap/limit |"; echo "$row"
        row="|---|"; for t in "${peers[@]}"; do row+="---:|"; done; row+="---:|"; echo "$row"
        for step in "${steps[@]}"; do
            [[ $step == rss_first || $step == rss_change ]] && continue
            row="| $step |"
            for t in "${peers[@]}"; do row+=" $(ratio "${V[snap,$step]:-}" "${V[$t,$step]:-}") |"; done
            case $step in
                first | restore) lim=$(ratio "${V[snap,$step]:-}" "$lim_cp") ;;
                nochange) lim=$(ratio "${V[snap,$step]:-}" "$lim_stat") ;;
                *) lim="" ;;
            esac
            echo "$row $lim |"
        done
    fi
}

# ------------------------------------------------------------------ cycles
rm -rf "$RES"; mkdir -p "$RES"
declare -A verified info
for corpus_name in $CORPORA; do
    prepare_corpus "$corpus_name"
    mkdir -p "$RES/$corpus_name"
    files=$(find "$CORPUS" -type f ! -name .complete | wc -l)
    entries=$(find "$CORPUS" ! -name .complete | wc -l)
    bytes=$(find "$CORPUS" -type f ! -name .complete -printf '%s\n' | awk '{s += $1} END {print s}')
    FS_BYTES=$((3 * bytes > 2 << 30 ? 3 * bytes : 2 << 30))
    info[$corpus_name]="$CORPUS: $files files, $entries entries, $(fmt mb "$bytes"); small change: $( ((MUTATE)) && echo "gen_corpus.py --mutate --seed $SEED" || echo "none")"
    reset_src
    log "== $corpus_name: limits"
    measure_limits "$RES/$corpus_name/limits"
    for tool in $TOOLS; do
        run_tool "$RES/$corpus_name/$tool"
    done
done
clean_tool_state
chmod -R u+w "$SRC" 2>/dev/null || true
rm -rf "$SRC"

echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "Repositories: $([[ $STORE == s3 ]] && echo "on S3 at $AWS_ENDPOINT_URL, bucket $S3_BENCH_BUCKET, a fresh prefix per cycle" || echo "in $BENCH_DIR")"
echo "Runs: $RUNS cycles per tool and corpus, medians (RSS: maximum); page cache warm (cannot drop caches), one warm-up snapshot per tool"
echo "Restores and \`cp -a\`: $([[ $RESTORE_FS == fresh ]] && echo "each into a fresh ext4 filesystem (loop image in BENCH_DIR, $(fmt mb "$FS_BYTES") for the last corpus)" || echo "into BENCH_DIR")"
for tool in $TOOLS; do
    line="- $(tool_version | head -1); restore verified with diff -r:"
    for corpus_name in $CORPORA; do line+=" $corpus_name ${verified[$corpus_name,$tool]:-?}"; done
    echo "$line"
done
echo "- restic: RESTIC_PASSWORD set (repository encrypted), default cache; rustic: RUSTIC_PASSWORD set (encrypted), cache in BENCH_DIR; borg: --encryption=none, --compression zstd,3"
for corpus_name in $CORPORA; do report_corpus "$corpus_name"; done
