#!/usr/bin/env bash
# Builds what scripts/gpu/device-run.sh needs (here: no CUDA toolkit is
# needed, NVRTC compiles the kernels on the GPU machine) and copies it,
# stripped, into DIR: the seedlm binary and the two GPU test binaries with
# --features cuda, the fixture of real layers, and device-run.sh itself.
# Usage: scripts/gpu/stage.sh DIR [CHECKPOINT]
set -euo pipefail
dir=$1
ck=${2:-testdata/SmolLM2-135M-Instruct.Q4_1.gguf}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mkdir -p "$dir"
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p seedlm-host --features cuda --bin seedlm --example gpu_fixture
exe() { # the test executable of crate $1, test $2
    cargo test --release -p "$1" --features cuda --test "$2" --no-run --message-format=json 2>/dev/null |
        grep '"kind":\["test"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1
}
strip -o "$dir/seedlm" "$target/release/seedlm"
strip -o "$dir/test-seedlm-gpu" "$(exe seedlm gpu)"
strip -o "$dir/test-host-gpu" "$(exe seedlm-host gpu)"
[ -e "$dir/fixture.safetensors" ] ||
    "$target/release/examples/gpu_fixture" "$ck" "$dir/fixture.safetensors" \
        '^blk\.(0|15|29)\.(attn_q|attn_k|ffn_down|attn_norm)\.weight$'
# Real layers with their H from a calibration run (256 tokens of alice29),
# for the calibrated search's checks (device-run-calib.sh).
[ -e "$dir/calib.safetensors" ] ||
    "$target/release/examples/gpu_fixture" "$ck" "$dir/calib.safetensors" \
        '^blk\.(0\.attn_q|15\.ffn_gate|29\.ffn_down)\.weight$' testdata/alice29.txt 256
cp scripts/gpu/device-run.sh scripts/gpu/device-run-calib.sh "$dir/"
ls -la "$dir"
