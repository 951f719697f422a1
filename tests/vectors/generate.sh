#!/usr/bin/env bash
# Regenerates tests/vectors/*.json by running the official SDKs' own signing code.
#   bash tests/vectors/generate.sh            all files
#   bash tests/vectors/generate.sh --only fc3 one file (tencent, fc, fc3; repeatable)
# Installs the pinned SDKs (requirements.txt) from PyPI into a throwaway venv, which is deleted
# afterwards (FNVAULT_VECTORS_VENV=DIR keeps and reuses one instead). Needs python3 with venv.
# Review the diff before committing: a changed signature means an SDK or its environment
# (Python version, OS, architecture: the FC 3.0 SDK signs its user-agent) changed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${FNVAULT_VECTORS_VENV:-}" ]]; then
  VENV="$FNVAULT_VECTORS_VENV"
else
  VENV="$(mktemp -d "${TMPDIR:-/tmp}/fnvault-vectors-venv.XXXXXX")"
  trap 'rm -rf "$VENV"' EXIT
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
"$VENV/bin/python" "$HERE/generate.py" --out "$HERE" "$@"
