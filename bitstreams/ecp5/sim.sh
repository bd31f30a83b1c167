#!/usr/bin/env bash
# Simulation check of the ECP5 board harness: Verilator runs
# bitstreams/ecp5/ecp5_top.v around the generated seedlm_accel (the plain
# forms of the engine, no -DSEEDLM_ECP5) with the PLL and block-RAM models
# of bitstreams/ecp5/sim/prims.v, for three jobs of the top's FSM, and
# fails unless each ends DONE without ERROR with ROWS results written
# (bitstreams/ecp5/sim/tb.v). Needs $OUT from a run of bitstreams/ecp5.sh
# with the same LANES (seedlm_accel.v and ecp5_accel.vh); about two minutes
# of Verilator build.
#
# Usage: OUT=target/ecp5 bitstreams/ecp5/sim.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-target/ecp5}
dir="$OUT/sim"
rm -rf "$dir"
verilator --binary -j 1 -Wno-fatal -Wno-lint -Wno-style --timing --Mdir "$dir" -I"$OUT" \
    --top-module tb -o tb bitstreams/ecp5/sim/tb.v bitstreams/ecp5/sim/prims.v \
    "$OUT/seedlm_accel.v" bitstreams/ecp5/ecp5_mem.v bitstreams/ecp5/ecp5_top.v \
    >"$OUT/sim.log" 2>&1 || { tail -20 "$OUT/sim.log" >&2; exit 1; }
"$dir/tb"
