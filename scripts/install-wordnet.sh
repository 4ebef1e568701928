#!/bin/sh
# Install WordNet 3.0 (Debian's wordnet-base: /usr/share/wordnet/data.noun, index.noun,
# noun.exc), needed only by scripts/build_taxonomy.py. Idempotent; run as root.
set -eu
if [ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/noun.exc ]; then
    echo "wordnet-base already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends wordnet-base
