#!/bin/sh
# Install the browser that the web page's tests drive with Playwright: Debian's chromium (Playwright's own
# browser download is never used; tests/browser.py points Playwright at /usr/bin/chromium).
# Idempotent; run as root.
set -eu
if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
