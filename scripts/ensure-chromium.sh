#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver (Debian's chromium and chromium-driver) are
# installed, for the Swagger UI browser test. Installs them with apt-get when missing and this
# runs as root; otherwise says what to install. Prints nothing on stdout.
set -euo pipefail

log() { echo "ensure-chromium: $*" >&2; }

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    log "$(chromium --version 2>/dev/null | head -1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "chromium and chromedriver are missing: install them (Debian: apt-get install chromium chromium-driver)"
    exit 1
fi
log "installing chromium and chromium-driver with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null >&2
apt-get install -y -qq --no-install-recommends chromium chromium-driver </dev/null >&2
log "$(chromium --version 2>/dev/null | head -1)"
