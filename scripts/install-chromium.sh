#!/usr/bin/env bash
# Install Debian's chromium for the explorer's browser tests (tests/e2e/test_explorer_browser.py).
#
# Playwright drives this binary through executable_path; `playwright install` downloads its own
# browser builds, which this project's machines cannot fetch. Idempotent: does nothing when
# /usr/bin/chromium exists, and runs `apt-get update` only when apt knows no chromium candidate.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-chromium: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive

candidate() {
    apt-cache policy chromium 2>/dev/null | awk '/Candidate:/ {print $2}'
}

# A fresh machine may have empty or stale package lists; refresh them only then.
if [ -z "$(candidate)" ] || [ "$(candidate)" = "(none)" ]; then
    $SUDO apt-get update -qq
fi

# fonts-liberation: a metric-compatible sans so pages render the same on every machine.
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null

echo "installed: $("$CHROMIUM" --version)"
