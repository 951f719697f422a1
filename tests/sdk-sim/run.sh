#!/usr/bin/env bash
# Cross-check fnvault against a simulator that verifies every request with the
# clouds' official SDK code. See README.md.
#   bash tests/sdk-sim/run.sh              build fnvault (release) and run scenarios a-j
#   bash tests/sdk-sim/run.sh --selftest   check the simulator itself with the SDK clients
# Options: --keep (keep the work folder), --no-build (use the existing target/release/fnvault)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# Everything built or made here lives in cargo's target folder, wherever CARGO_TARGET_DIR puts it.
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$TARGET"
VENV="$TARGET/sdk-sim-venv"
MODE=scenarios
KEEP=0
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --selftest) MODE=selftest ;;
    --keep) KEEP=1 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

# --- venv with the pinned SDKs (reused; reinstalled when requirements.txt changes)
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.sdk-sim-requirements.sha256"
WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$WANT" > "$STAMP"
fi
PY="$VENV/bin/python"

if [[ "$MODE" == selftest ]]; then
  if [[ "$KEEP" == 1 ]]; then exec "$PY" "$HERE/selftest.py" --keep; fi
  exec "$PY" "$HERE/selftest.py"
fi

# --- fnvault release binary
BIN="$TARGET/release/fnvault"
if [[ "$BUILD" == 1 ]] && ! (cd "$ROOT" && cargo build --release --quiet); then
  echo "FAIL build: cargo build --release failed"
  echo "0 passed, 1 failed"
  exit 1
fi
if [[ ! -x "$BIN" ]]; then
  echo "FAIL build: $BIN does not exist"
  echo "0 passed, 1 failed"
  exit 1
fi

# --- simulator on a free port
WORK="$(mktemp -d "$TARGET/sdk-sim-run.XXXXXX")"
echo '{}' > "$WORK/state.json"
SIM_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$SIM_PID" ]]; then
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
  fi
  if [[ "$KEEP" == 1 || $rc -ne 0 ]]; then
    echo "run.sh: files kept in $WORK (sim.stderr, requests.jsonl, fnvault/)" >&2
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PY" "$HERE/sim.py" --state "$WORK/state.json" --port 0 --port-file "$WORK/port" \
  --log "$WORK/requests.jsonl" 2> "$WORK/sim.stderr" &
SIM_PID=$!
for _ in $(seq 1 200); do
  [[ -s "$WORK/port" ]] && break
  if ! kill -0 "$SIM_PID" 2>/dev/null; then
    echo "FAIL sim: sim.py did not start:"; tail -20 "$WORK/sim.stderr"
    echo "0 passed, 1 failed"
    exit 1
  fi
  sleep 0.1
done
if [[ ! -s "$WORK/port" ]]; then
  echo "FAIL sim: sim.py did not report its port"; echo "0 passed, 1 failed"; exit 1
fi
PORT="$(cat "$WORK/port")"

"$PY" "$HERE/scenarios.py" --workdir "$WORK" --port "$PORT" --bin "$BIN"
