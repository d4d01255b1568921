#!/usr/bin/env bash
# One-command, idempotent setup for a fresh machine of this kind (Debian, root).
# Installs: Debian packages for the Rust zkVM guest, project-local npm tools
# (anvil/forge/cast, solcjs, nitro-contracts), and the Python venv with pinned deps.
# Every step is skipped quickly when its stamp says it is already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages (Rust toolchain able to target riscv32im-risc0-zkvm-elf; chromium for tests/explorer;
#     postgresql: initdb/pg_ctl for the tests' throwaway servers, tests/pg_support.py) ---
APT_PKGS=(rustc-web rust-web-src cargo-web lld-22 chromium postgresql)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- npm tools, project-local ---
NPM_DIR="$ROOT/tools/npm"
npm_stamp="$NPM_DIR/node_modules/.coproc-stamp"
npm_hash="$(sha256sum "$NPM_DIR/package-lock.json" | cut -c1-16)"
if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_hash" ]; then
  log "installing npm tools (anvil, forge, cast, solc, nitro-contracts)"
  # `npm ci` installs exactly the committed lock and never rewrites it (`npm install`
  # may add other platforms' optional packages to it and leave the tree dirty).
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$npm_hash" > "$npm_stamp"
fi

# --- Python venv ---
PY="${PYTHON:-python3}"
venv_stamp="$ROOT/.venv/.coproc-stamp"
py_hash="$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$venv_stamp" ] || [ "$(cat "$venv_stamp")" != "$py_hash" ]; then
  log "creating Python venv (.venv) with pinned dependencies"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$py_hash" > "$venv_stamp"
fi

# --- Later stages (guest build, contracts build) hook in here ---
for stage in "$ROOT"/scripts/setup.d/*.sh; do
  [ -e "$stage" ] || continue
  bash "$stage"
done
log "ready"
