#!/bin/sh
# Install the fonts that tests/textimages.py renders its OCR test images with (DejaVu Sans/Serif/Mono,
# Liberation Sans/Serif/Mono). Optional: without them the tests fall back to Pillow's built-in font.
# Idempotent; run as root.
set -eu
if [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] \
    && [ -f /usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf ]; then
    echo "fonts already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends fonts-dejavu-core fonts-dejavu-extra fonts-liberation2
