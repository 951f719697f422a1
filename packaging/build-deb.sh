#!/usr/bin/env bash
# Builds the Debian package: target/debian/fnvault_<version>-1_<arch>.deb (under
# $CARGO_TARGET_DIR when set). Needs cargo-deb (`cargo install --locked cargo-deb`) and, for
# the dependency line, dpkg-dev (dpkg-shlibdeps).
#   bash packaging/build-deb.sh            build, then print the package's path
#   bash packaging/build-deb.sh --lintian  also run lintian on it (fails on any error or warning)
# What goes where is [package.metadata.deb] in Cargo.toml; the man page and completions are
# generated here from the release binary, so they always match it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LINTIAN=0
for arg in "$@"; do
  case "$arg" in
    --lintian) LINTIAN=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb.sh: cargo-deb is missing: cargo install --locked cargo-deb" >&2
  exit 2
fi

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release --locked
BIN="$TARGET/release/fnvault"
# cargo-deb maps asset paths under target/release/ to the real target folder.
GEN="$TARGET/release/packaging"
rm -rf "$GEN"
mkdir -p "$GEN"
"$BIN" man > "$GEN/fnvault.1"
# -n: no name or timestamp in the gzip header, so the package is reproducible.
gzip -9n "$GEN/fnvault.1"
"$BIN" completions bash > "$GEN/fnvault.bash"
"$BIN" completions zsh > "$GEN/_fnvault"
"$BIN" completions fish > "$GEN/fnvault.fish"

# --strip: the release profile keeps line tables for backtraces during development; the
# package ships a stripped binary (lintian: unstripped-binary-or-object is an error).
DEB="$(cargo deb --no-build --locked --strip 2>"$GEN/cargo-deb.log" | tail -n 1)" || {
  cat "$GEN/cargo-deb.log" >&2
  exit 1
}
# cargo-deb's warnings (a missing dpkg-shlibdeps, say) must not pass unseen.
if grep -i 'warning' "$GEN/cargo-deb.log" >&2; then
  echo "build-deb.sh: cargo-deb warned (above)" >&2
  exit 1
fi
echo "$DEB"
if [[ "$LINTIAN" == 1 ]]; then
  # --fail-on warning: every warning is either fixed or overridden with its reason in
  # packaging/lintian-overrides.
  lintian --fail-on error,warning --info "$DEB"
fi
