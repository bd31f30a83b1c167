#!/usr/bin/env bash
# Fetches the evaluation texts (see MODELS.md) into testdata/:
# - alice29.txt (Alice's Adventures in Wonderland, public domain, Canterbury
#   corpus) from the brotli==1.2.1 sdist on PyPI: the text perplexity is
#   scored on;
# - botchan.txt (Botchan, public domain, UTF-8 with BOM) from the
#   sentencepiece==0.2.3 sdist on PyPI: the text `compress --calib`
#   calibrates on (never the scored one).
# Idempotent: does nothing for a file already there with the right checksum;
# reuses a downloaded sdist.
#
#   scripts/fetch-text.sh            # -> testdata/alice29.txt, testdata/botchan.txt
#   SDIST_DIR=/somewhere scripts/fetch-text.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/fetch.sh"
sdist_dir="${SDIST_DIR:-/tmp/m}"

# alice29.txt
sdist="$sdist_dir/brotli-1.2.1.tar.gz"
download() {
    echo "downloading brotli==1.2.1 (sdist) into $sdist_dir"
    python3 -m pip download --no-deps --no-binary brotli -d "$sdist_dir" brotli==1.2.1
}
extract() {
    tar xzf "$sdist" --strip-components=3 -C "$root/testdata" brotli-1.2.1/tests/testdata/alice29.txt
}
fetch_file "$root/testdata/alice29.txt" \
    7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0 "$sdist"

# botchan.txt
sdist="$sdist_dir/sentencepiece-0.2.3.tar.gz"
download() {
    echo "downloading sentencepiece==0.2.3 (sdist) into $sdist_dir"
    python3 -m pip download --no-deps --no-binary sentencepiece -d "$sdist_dir" sentencepiece==0.2.3
}
extract() {
    tar xzf "$sdist" --strip-components=2 -C "$root/testdata" sentencepiece-0.2.3/test/botchan.txt
}
fetch_file "$root/testdata/botchan.txt" \
    464bd5300c24fce16fcc4555d4231a57632caae4d0090ad6aa92854a3b227ba7 "$sdist"
