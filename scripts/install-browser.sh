#!/usr/bin/env bash
# Install Debian's Chromium for the report's browser test (tests/integration/reports/), when missing.
# Idempotent: prints what it installs, nothing else. Playwright for Python (requirements-dev.txt)
# drives this browser over the DevTools protocol; it never downloads a browser of its own.
#   chromium: the browser (/usr/bin/chromium)
#   fonts-liberation: metric-compatible fonts, so that the screenshot kept by the test shows text
set -euo pipefail

need=()
command -v chromium > /dev/null || need+=(chromium)
dpkg-query -W -f='${Status}' fonts-liberation 2> /dev/null | grep -q "install ok installed" || need+=(fonts-liberation)
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "browser: run as root to install the Debian packages ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "browser: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
