#!/usr/bin/env bash
# Checks bitstreams/vivado/u55c.tcl without Vivado: runs it under tclsh with
# every Vivado command stubbed (an `unknown` handler that logs the call),
# so Tcl syntax errors and unbalanced braces fail, and checks that the
# block design has its parts: the board part, XDMA, HBM, the AXI DMA and
# the engine as an RTL module reference. Also lints the AXI wrapper
# seedlm_axi.v with Verilator against the generated 16-lane 4-bit engine.
#
# Installs tclsh (Debian's tcl) if missing.
#
# Usage: bitstreams/vivado/check.sh   (GEN=path/to/gen-rtl to skip the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
if ! command -v tclsh >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq tcl >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log="$work/calls.log"
tclsh >/dev/null <<TCL
set ::log [open "$log" w]
proc unknown {args} { puts \$::log [lindex \$args 0]\t[join [lrange \$args 1 end] " "]; return "" }
set argv [list "$work/rtl" "$work/build"]
set argc 2
if {[catch {source bitstreams/vivado/u55c.tcl} err]} { puts stderr "u55c.tcl: \$err"; exit 1 }
close \$::log
TCL
for want in "set_property	board_part xilinx.com:au55c:part0" "xilinx.com:ip:xdma:" "xilinx.com:ip:hbm:" \
    "xilinx.com:ip:axi_dma:" "create_bd_cell	-type module -reference seedlm_axi" "write_bitstream"; do
    grep -qF "$want" "$log" || { echo "u55c.tcl: no call with '$want'" >&2; exit 1; }
done
echo "u55c.tcl: parsed, $(wc -l <"$log") Vivado calls stubbed; board part, XDMA, HBM, AXI DMA and engine present"

gen=${GEN:-}
if [ -z "$gen" ]; then
    cargo build -q --release --bin gen-rtl
    gen="$CARGO_TARGET_DIR/release/gen-rtl"
fi
"$gen" --top engine --bits 4 --lanes 16 --out "$work/rtl" >/dev/null
verilator --lint-only -Wall --top-module seedlm_axi "$work/rtl/seedlm_engine.v" bitstreams/vivado/seedlm_axi.v
echo "seedlm_axi.v: verilator --lint-only -Wall clean"
