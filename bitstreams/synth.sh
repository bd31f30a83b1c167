#!/usr/bin/env bash
# Synthesizes the generated accelerator (default: the whole top,
# seedlm_accel / fp16_accel: engine and AXI shell) with yosys (synth_xilinx
# for 7-series and for UltraScale+, synth_ecp5) and prints LUT/FF/DSP/BRAM
# and the synthesis time per engine, lane count and architecture. Fails if
# any latch is inferred, if a Xilinx netlist does not have exactly C DSPs
# per lane (the activation products; C = 8 at 4-bit and in the FP16
# baseline, 12 at 3-bit; the accelerator's shell has none: its job check
# multiplies by shift-and-add), or if the weight rebuild (the 4-bit
# coefficient products) maps to a DSP on any architecture.
#
# Usage: bitstreams/synth.sh          (4-bit x {1,8,16}, 3-bit x {1,14}, FP16 x {1,4})
#        CONFIGS="4:1 4:16" ARCHS=xilinx JOBS=1 bitstreams/synth.sh
#        KINDS="4 3" LANES="1 8" bitstreams/synth.sh   (every kind x every lane count)
# CONFIGS: KIND:LANES pairs; KIND is 4 or 3 (SeedLM bits per weight) or fp16
# (the baseline). KINDS and LANES, when given, replace CONFIGS by their
# product. ARCHS: any of xilinx (synth_xilinx, 7-series: DSP48E1, RAMB18E1/
# RAMB36E1), xcup (synth_xilinx -family xcup, UltraScale+ as on the U55C:
# DSP48E2, RAMB18E2/RAMB36E2, URAM288) and ecp5 (default "xilinx ecp5").
# TOP: accel (default: seedlm_accel, the engine behind the AXI shell, AXI
# data width AXI_BITS, default 512) or engine (the engine alone). JOBS:
# parallel yosys runs (default nproc). GEN: a prebuilt gen-rtl binary
# (default: built here). YOSYS: the yosys binary (default: yosys on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${CONFIGS:-"4:1 4:8 4:16 3:1 3:14 fp16:1 fp16:4"}
if [ -n "${KINDS:-}${LANES:-}" ]; then
    CONFIGS=$(for k in ${KINDS:-4 3 fp16}; do for l in ${LANES:-1 8 16}; do printf '%s:%s ' "$k" "$l"; done; done)
fi
ARCHS=${ARCHS:-"xilinx ecp5"}
JOBS=${JOBS:-$(nproc)}
TOP=${TOP:-accel}
AXI_BITS=${AXI_BITS:-512}
YOSYS=${YOSYS:-yosys}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v "$YOSYS" >/dev/null || { echo "synth.sh needs yosys (apt-get install -y yosys)" >&2; exit 1; }
case "$TOP" in
    accel) topargs="--axi-data-bits $AXI_BITS" ;;
    engine) topargs="--top engine" ;;
    *) echo "synth.sh: TOP is accel or engine, got $TOP" >&2; exit 1 ;;
esac
gen=${GEN:-}
if [ -z "$gen" ]; then
    cargo build -q --bin gen-rtl
    gen="$CARGO_TARGET_DIR/debug/gen-rtl"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export gen work TOP topargs YOSYS

# One netlist: generate, synthesize, check, write one result line
# (kind lanes arch LUT FF DSP BRAM seconds) or a FAIL line.
synth_one() {
    local kind=$1 lanes=$2 arch=$3
    local dir="$work/$kind-l$lanes" top=seedlm_$TOP c=8 args
    case "$kind" in
        fp16) top=fp16_$TOP; args=(--baseline fp16) ;;
        3) c=12; args=(--bits 3) ;;
        4) args=(--bits 4) ;;
        *) echo "FAIL $kind: unknown kind (4, 3 or fp16)" > "$work/res.$kind.$lanes.$arch"; return ;;
    esac
    mkdir -p "$dir/$arch"
    # shellcheck disable=SC2086 # topargs: several words
    "$gen" $topargs "${args[@]}" --lanes "$lanes" --out "$dir/$arch" >/dev/null
    local out="$dir/$arch" synth="synth_xilinx -flatten" t0=$SECONDS
    local defs=""
    # ECP5: no flattening; the ECP5 forms of the memory and multipliers
    # (DP16KD and MULT18X18D with their registers, as bitstreams/ecp5.sh builds).
    case "$arch" in
        ecp5) synth=synth_ecp5; defs="-DSEEDLM_ECP5" ;;
        xcup) synth="synth_xilinx -family xcup -flatten" ;;
    esac
    local res="$work/res.$kind.$lanes.$arch"
    if ! "$YOSYS" -q -l "$out/log" -p "read_verilog $defs $out/$top.v; $synth -top $top; tee -q -o $out/stat stat" \
        >/dev/null 2>"$out/err"; then
        echo "FAIL $kind $lanes $arch: yosys: $(tail -3 "$out/err" | tr '\n' ' ')" > "$res"; return
    fi
    local secs=$((SECONDS - t0))
    # Cell lines of `stat`: "     LUT6     559" (type, then count) in
    # Yosys 0.23, "      559   LUT6" in newer ones.
    awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $1, $2 } NF == 2 && $1 ~ /^[0-9]+$/ { print $2, $1 }' "$out/stat" > "$out/cells"
    count() { awk -v re="$1" '$1 ~ "^" re "$" { n += $2 } END { print n + 0 }' "$out/cells"; }
    if grep -q '^Latch inferred' "$out/log" || grep -qE '^(LDCE|LDPE|\$_DLATCH)' "$out/cells"; then
        echo "FAIL $kind $lanes $arch: latch inferred" > "$res"; return
    fi
    local lut ff dsp bram
    if [ "$arch" != ecp5 ]; then
        lut=$(count 'LUT[1-6]'); ff=$(count 'FD[CPRS]E')
        # BRAM in 36 Kb units: RAMB36 = 1, RAMB18 = 1/2; URAM288 apart.
        dsp=$(count 'DSP48E[12]')
        bram=$(awk '$1 ~ /^RAMB36E[12]$/ { n += 2 } $1 ~ /^RAMB18E[12]$/ { n += 1 } END { printf "%g", n / 2 }' "$out/cells")
        local uram; uram=$(count 'URAM288')
        [ "$uram" != 0 ] && bram="$bram+${uram}U"
        if [ "$dsp" != $((c * lanes)) ]; then
            echo "FAIL $kind $lanes $arch: $dsp DSPs, want C x lanes = $((c * lanes))" > "$res"; return
        fi
    else
        lut=$(count 'LUT4'); ff=$(count 'TRELLIS_FF')
        dsp=$(count 'MULT18X18D'); bram=$(count 'DP16KD')
    fi
    echo "$kind $lanes $arch $lut $ff $dsp $bram $secs" > "$res"
    echo "done: $(cat "$res")" >&2   # progress, before the table
}

# The rebuild alone: shift-and-add in LUTs, no DSP.
rebuild_check() {
    local arch=$1 dir="$work/rebuild-$1"
    mkdir -p "$dir"
    local synth="synth_$arch"
    [ "$arch" = xcup ] && synth="synth_xilinx -family xcup"
    "$gen" --top engine --bits 4 --lanes 1 --out "$dir" >/dev/null
    "$YOSYS" -q -p "read_verilog $dir/seedlm_engine.v; hierarchy -top \\seedlm_engine_core\$lanes\$0\$rebuild; $synth; tee -q -o $dir/stat stat" \
        >/dev/null 2>"$dir/err" || { echo "FAIL rebuild $arch: yosys" > "$work/res.rebuild.$arch"; return; }
    local dsp
    dsp=$(awk '$1 ~ /^(DSP48E[12]|MULT18X18D)$/ { n += $2 } $2 ~ /^(DSP48E[12]|MULT18X18D)$/ { n += $1 } END { print n + 0 }' "$dir/stat")
    if [ "$dsp" != 0 ]; then
        echo "FAIL rebuild $arch: the weight rebuild uses $dsp DSPs" > "$work/res.rebuild.$arch"
    fi
}
export -f synth_one rebuild_check

{
    for arch in $ARCHS; do echo "rebuild_check $arch"; done
    # Largest first, so the long runs start early.
    for kl in $(echo "$CONFIGS" | tr ' ' '\n' | sort -t: -k2 -rn); do
        for arch in $ARCHS; do echo "synth_one ${kl%%:*} ${kl##*:} $arch"; done
    done
} | xargs -P "$JOBS" -I{} bash -c '{}'

printf '%-6s %-7s %5s %8s %8s %5s %5s %6s\n' engine arch lanes LUT FF DSP BRAM secs
fail=0
for arch in $ARCHS; do
    for kl in $CONFIGS; do
        kind=${kl%%:*} lanes=${kl##*:}
        line=$(cat "$work/res.$kind.$lanes.$arch")
        case "$line" in
            FAIL*) echo "$line" >&2; fail=1 ;;
            *) set -- $line
               name=$1; [ "$name" != fp16 ] && name="$1-bit"
               printf '%-6s %-7s %5s %8s %8s %5s %5s %6s\n' "$name" "$3" "$2" "$4" "$5" "$6" "$7" "$8" ;;
        esac
    done
done
for f in "$work"/res.rebuild.*; do
    [ -e "$f" ] && { cat "$f" >&2; fail=1; }
done
[ "$fail" = 0 ] || exit 1
echo "top $TOP: no latches; xilinx DSPs = C x lanes; weight rebuild uses 0 DSPs ($ARCHS)"
