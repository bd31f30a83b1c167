#!/usr/bin/env bash
# Fetches the evaluation text (see MODELS.md): alice29.txt (Alice's
# Adventures in Wonderland, public domain, Canterbury corpus) from the
# brotli==1.2.1 sdist on PyPI, into testdata/. Idempotent: does nothing when
# the file is already there with the right checksum; reuses a downloaded sdist.
#
#   scripts/fetch-text.sh            # -> testdata/alice29.txt
#   SDIST_DIR=/somewhere scripts/fetch-text.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/fetch.sh"
name="alice29.txt"
sdist_dir="${SDIST_DIR:-/tmp/m}"
sdist="$sdist_dir/brotli-1.2.1.tar.gz"

download() {
    echo "downloading brotli==1.2.1 (sdist) into $sdist_dir"
    python3 -m pip download --no-deps --no-binary brotli -d "$sdist_dir" brotli==1.2.1
}
extract() {
    tar xzf "$sdist" --strip-components=3 -C "$root/testdata" "brotli-1.2.1/tests/testdata/$name"
}

fetch_file "$root/testdata/$name" \
    7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0 "$sdist"
