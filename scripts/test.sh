#!/usr/bin/env bash
# The project's test command (README, CI): installs Verilator and Yosys if
# missing, checks formatting, runs every test of the workspace in release
# mode, then clippy (-D warnings) and rustdoc (-D warnings: no broken links).
# Fuzzing is not part of it: scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/fetch-model.sh   # host/tests/llama_real.rs needs the real SmolLM2 GGUF (98 MB)
cargo fmt --all --check
(cd fuzz && cargo fmt --check)
cargo test --workspace --release --features seedlm-host/verilator "$@"
# Lints and docs, on the release build above (same dependencies and
# Verilator models, so they add only the check and rustdoc passes).
cargo clippy --release --workspace --all-targets --features seedlm-host/verilator -- -D warnings
SEEDLM_SIM_NO_MODELS=1 RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --features seedlm-host/verilator
bitstreams/vivado/check.sh   # Vivado Tcl parsed with stubbed commands, AXI wrapper linted
# The open ECP5 flow (synthesis, place and route, bitstream) takes minutes:
if [ "${SEEDLM_ECP5:-0}" = 1 ]; then bitstreams/ecp5.sh && bitstreams/ecp5/sim.sh; fi
