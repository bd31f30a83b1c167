#!/usr/bin/env bash
# The project's test command (README, CI): installs Verilator and Yosys if
# missing, then runs every test of the workspace in release mode.
# Long sweeps are #[ignore]d; run them with: cargo test --release -- --ignored
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/fetch-model.sh   # host/tests/llama_real.rs needs the real SmolLM2 GGUF (98 MB)
cargo test --workspace --release "$@"
