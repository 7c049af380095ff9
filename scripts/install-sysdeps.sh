#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's Chromium for the UI browser test
# (tests/test_ui_browser.py) and fonts so its screenshots show text. Idempotent: installs only what is
# missing and runs `apt-get update` only when a package is not installable from the current lists.
# Needs root (or sudo) on Debian/Ubuntu; elsewhere it says what to install and exits 0 (the browser
# test then skips with its reason).
set -euo pipefail

PACKAGES=(chromium fonts-dejavu-core)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "sysdeps: ${PACKAGES[*]} already installed"
    exit 0
fi

if ! command -v apt-get > /dev/null; then
    echo "sysdeps: no apt-get here; install ${missing[*]} yourself (the browser test skips without it)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo > /dev/null; then
        SUDO="sudo"
    else
        echo "sysdeps: not root and no sudo; install ${missing[*]} yourself" >&2
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only if one of the packages has no install candidate yet.
needs_update=0
for pkg in "${missing[@]}"; do
    candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        needs_update=1
    fi
done
if [ "$needs_update" = 1 ]; then
    echo "sysdeps: apt-get update"
    $SUDO apt-get update -qq
fi
echo "sysdeps: installing ${missing[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
echo "sysdeps: $(chromium --version 2>/dev/null || echo 'chromium installed')"
