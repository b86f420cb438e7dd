#!/usr/bin/env bash
# Installs the external programs the test suite drives, only when they are missing:
#   - Azurite (Microsoft's Azure Storage emulator) from npm into .tools/, for the az:// landing-zone tests;
#   - Debian's chromium and chromium-driver, for the UI tests (their own browser downloads cannot reach the network here).
# Safe to run repeatedly: each step checks first, so `make test` can call it every time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Azurite 3.35.0 is the last release that declares support for node 20, the node Debian ships.
AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"

if [ ! -x .tools/node_modules/.bin/azurite-blob ] && ! command -v azurite-blob >/dev/null 2>&1; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "install-test-tools: npm is missing; install it with: apt-get install -y npm" >&2
        exit 1
    fi
    echo "install-test-tools: installing azurite@${AZURITE_VERSION} into .tools/"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund "azurite@${AZURITE_VERSION}"
fi

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ "${#need_apt[@]}" -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            echo "install-test-tools: need root to run: apt-get install -y ${need_apt[*]}" >&2
            exit 1
        fi
    fi
    echo "install-test-tools: installing ${need_apt[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

echo "install-test-tools: azurite and chromium are ready"
