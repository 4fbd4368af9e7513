#!/usr/bin/env bash
# `make bench`: the full benchmark (~15 min); `bench/run.sh --smoke` for the < 60 s smoke run.
# Extra arguments go to `python -m bench` (--only direct,group, --rounds 1, --out FILE, profile ...).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
# 10,000 idle connections need ~10k descriptors in the server and as many in the generator
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
command -v node >/dev/null || { echo "bench needs Node.js 18+ (the Node reference and the load generator)" >&2; exit 2; }
if [ ! -d bench/reference/node/node_modules/socket.io ] || [ ! -d bench/reference/node/node_modules/ws ]; then
  npm ci --prefix bench/reference/node --no-audit --no-fund --loglevel=error
fi
exec "$PY" -m bench "$@"
