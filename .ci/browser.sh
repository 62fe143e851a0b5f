#!/usr/bin/env bash
# CI step before `make test`: what tests/test_site.py needs besides the Python packages, from Debian and npm.
#   - Debian's chromium and chromium-driver (the headless browser the site is checked in), apt-get if absent;
#   - nodejs + npm if absent (apt-get), then KaTeX into node_modules/ (make site-deps: npm ci, package-lock.json).
# Exits 1 when either is still missing afterwards: in CI the site test must run, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || need+=(chromium chromium-driver)
command -v npm >/dev/null || need+=(nodejs npm)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "browser: installing ${need[*]} (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "browser: ${need[*]} missing and this user cannot apt-get install them" >&2
    fi
fi
missing=()
for tool in chromium chromedriver node npm; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "browser: still missing after installation: ${missing[*]}" >&2
    exit 1
fi
make --no-print-directory site-deps
echo "browser: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version | head -1); node $(node --version)"
