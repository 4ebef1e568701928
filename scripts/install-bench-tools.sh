#!/bin/sh
# Install the tools the benchmarks drive from outside Python: wrk (the HTTP load generator of the api section,
# benchmarks/api_load.py). Idempotent; run as root (benchmarks/api_load.py runs it when wrk is missing).
set -eu
if command -v wrk >/dev/null 2>&1; then
    echo "wrk already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends wrk
