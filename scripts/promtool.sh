#!/usr/bin/env bash
# Prints the path of promtool, Prometheus' rule checker, for the alert-rule tests. Uses the
# machine's if it has one; otherwise extracts it once from Debian's `prometheus` package into
# $KSTREAMS_CACHE_DIR/promtool, without installing the package (which would also install and
# start a Prometheus server). Exits 1, saying why, when neither works.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if command -v promtool >/dev/null; then
  command -v promtool
  exit 0
fi
out="$KSTREAMS_CACHE_DIR/promtool"
if [ ! -x "$out/promtool" ]; then
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    { echo "promtool is not installed and there is no apt-get to fetch it" >&2; exit 1; }
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  if ! (cd "$scratch" && apt-get download prometheus >/dev/null 2>&1); then
    # A fresh machine may have no package lists yet.
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    (cd "$scratch" && apt-get download prometheus >/dev/null 2>&1) ||
      { echo "could not download Debian's prometheus package (for promtool)" >&2; exit 1; }
  fi
  dpkg-deb -x "$scratch"/prometheus_*.deb "$scratch/x"
  mkdir -p "$out"
  cp "$scratch/x/usr/bin/promtool" "$out/promtool.partial"
  mv "$out/promtool.partial" "$out/promtool"
fi
echo "$out/promtool"
