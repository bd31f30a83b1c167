#!/usr/bin/env bash
# Synthesizes the generated engines with yosys (synth_xilinx, synth_ecp5) and
# prints LUT/FF/DSP/BRAM and the synthesis time per engine, lane count and
# architecture. Fails if any latch is inferred, if the xilinx netlist does
# not have exactly C DSPs per lane (the activation products; C = 8 at 4-bit
# and in the FP16 baseline, 12 at 3-bit), or if the weight rebuild (the
# 4-bit coefficient products) maps to a DSP on either architecture.
#
# Usage: bitstreams/synth.sh          (4-bit x {1,8,16}, 3-bit x {1,14}, FP16 x {1,4})
#        CONFIGS="4:1 4:16" ARCHS=xilinx JOBS=1 bitstreams/synth.sh
#        KINDS="4 3" LANES="1 8" bitstreams/synth.sh   (every kind x every lane count)
# CONFIGS: KIND:LANES pairs; KIND is 4 or 3 (SeedLM bits per weight) or fp16
# (the baseline). KINDS and LANES, when given, replace CONFIGS by their
# product. ARCHS: "xilinx ecp5" (default both). JOBS: parallel yosys runs
# (default nproc). GEN: a prebuilt gen-rtl binary (default: built here).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${CONFIGS:-"4:1 4:8 4:16 3:1 3:14 fp16:1 fp16:4"}
if [ -n "${KINDS:-}${LANES:-}" ]; then
    CONFIGS=$(for k in ${KINDS:-4 3 fp16}; do for l in ${LANES:-1 8 16}; do printf '%s:%s ' "$k" "$l"; done; done)
fi
ARCHS=${ARCHS:-"xilinx ecp5"}
JOBS=${JOBS:-$(nproc)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v yosys >/dev/null || { echo "synth.sh needs yosys (apt-get install -y yosys)" >&2; exit 1; }
gen=${GEN:-}
if [ -z "$gen" ]; then
    cargo build -q --bin gen-rtl
    gen="$CARGO_TARGET_DIR/debug/gen-rtl"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export gen work

# One netlist: generate, synthesize, check, write one result line
# (kind lanes arch LUT FF DSP BRAM seconds) or a FAIL line.
synth_one() {
    local kind=$1 lanes=$2 arch=$3
    local dir="$work/$kind-l$lanes" top=seedlm_engine c=8 args
    case "$kind" in
        fp16) top=fp16_engine; args=(--baseline fp16) ;;
        3) c=12; args=(--bits 3) ;;
        4) args=(--bits 4) ;;
        *) echo "FAIL $kind: unknown kind (4, 3 or fp16)" > "$work/res.$kind.$lanes.$arch"; return ;;
    esac
    mkdir -p "$dir/$arch"
    "$gen" --top engine "${args[@]}" --lanes "$lanes" --out "$dir/$arch" >/dev/null
    local out="$dir/$arch" flat=-flatten t0=$SECONDS
    local defs=""
    # ECP5: no flattening; the ECP5 forms of the memory and multipliers
    # (DP16KD and MULT18X18D with their registers, as bitstreams/ecp5.sh builds).
    [ "$arch" = ecp5 ] && flat="" && defs="-DSEEDLM_ECP5"
    local res="$work/res.$kind.$lanes.$arch"
    if ! yosys -q -l "$out/log" -p "read_verilog $defs $out/$top.v; synth_$arch -top $top $flat; tee -q -o $out/stat stat" \
        >/dev/null 2>"$out/err"; then
        echo "FAIL $kind $lanes $arch: yosys: $(tail -3 "$out/err" | tr '\n' ' ')" > "$res"; return
    fi
    local secs=$((SECONDS - t0))
    # Cell lines of `stat` look like "     LUT6     559": type, then count.
    awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $1, $2 }' "$out/stat" > "$out/cells"
    count() { awk -v re="$1" '$1 ~ "^" re "$" { n += $2 } END { print n + 0 }' "$out/cells"; }
    if grep -q '^Latch inferred' "$out/log" || grep -qE '^(LDCE|LDPE|\$_DLATCH)' "$out/cells"; then
        echo "FAIL $kind $lanes $arch: latch inferred" > "$res"; return
    fi
    local lut ff dsp bram
    if [ "$arch" = xilinx ]; then
        lut=$(count 'LUT[1-6]'); ff=$(count 'FD[CPRS]E')
        dsp=$(count 'DSP48E1'); bram=$(count 'RAMB(18|36)E1')
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
    "$gen" --top engine --bits 4 --lanes 1 --out "$dir" >/dev/null
    yosys -q -p "read_verilog $dir/seedlm_engine.v; hierarchy -top \\seedlm_engine_core\$lanes\$0\$rebuild; synth_$arch; tee -q -o $dir/stat stat" \
        >/dev/null 2>"$dir/err" || { echo "FAIL rebuild $arch: yosys" > "$work/res.rebuild.$arch"; return; }
    local dsp
    dsp=$(awk '$1 ~ /^(DSP48E1|MULT18X18D)$/ { n += $2 } END { print n + 0 }' "$dir/stat")
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
echo "no latches; xilinx DSPs = C x lanes; weight rebuild uses 0 DSPs ($ARCHS)"
