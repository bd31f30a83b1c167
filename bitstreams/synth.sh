#!/usr/bin/env bash
# Synthesizes the generated engine with yosys (synth_xilinx, synth_ecp5) and
# prints LUT/FF/DSP/BRAM per lane count. Fails if any latch is inferred or if
# the weight rebuild (the 4-bit coefficient products) maps to a DSP.
#
# Usage: bitstreams/synth.sh            (BITS=4, LANES="1 8")
#        BITS=3 LANES="1 4 16" bitstreams/synth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BITS=${BITS:-4}
LANES=${LANES:-"1 8"}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v yosys >/dev/null || { echo "synth.sh needs yosys (apt-get install -y yosys)" >&2; exit 1; }
# GEN: a prebuilt gen-rtl binary; by default it is built here.
gen=${GEN:-}
if [ -z "$gen" ]; then
    cargo build -q --bin gen-rtl
    gen="$CARGO_TARGET_DIR/debug/gen-rtl"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Sum of the counts of cell types matching a regex in a flattened `stat`.
count() { awk -v re="$2" '$1 ~ "^" re "$" { n += $2 } END { print n + 0 }' "$1"; }

printf '%-7s %5s %8s %8s %5s %5s\n' arch lanes LUT FF DSP BRAM
for lanes in $LANES; do
    dir="$work/l$lanes"
    "$gen" --bits "$BITS" --lanes "$lanes" --out "$dir" >/dev/null
    for arch in xilinx ecp5; do
        flat=-flatten
        [ "$arch" = ecp5 ] && flat=""
        yosys -q -l "$dir/$arch.log" -p "read_verilog $dir/seedlm_engine.v; synth_$arch -top seedlm_engine $flat; tee -q -o $dir/$arch.stat stat" \
            >/dev/null 2>"$dir/$arch.err" || { tail -20 "$dir/$arch.err" >&2; exit 1; }
        # Cell lines of `stat` look like "     LUT6     559": type, then count.
        awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $1, $2 }' "$dir/$arch.stat" > "$dir/$arch.cells"
        if grep -q '^Latch inferred' "$dir/$arch.log" || grep -qE '^(LDCE|LDPE|\$_DLATCH)' "$dir/$arch.cells"; then
            echo "latch inferred in the $arch netlist ($lanes lanes)" >&2
            exit 1
        fi
        if [ "$arch" = xilinx ]; then
            lut=$(count "$dir/$arch.cells" 'LUT[1-6]'); ff=$(count "$dir/$arch.cells" 'FD[CPRS]E')
            dsp=$(count "$dir/$arch.cells" 'DSP48E1'); bram=$(count "$dir/$arch.cells" 'RAMB(18|36)E1')
        else
            lut=$(count "$dir/$arch.cells" 'LUT4'); ff=$(count "$dir/$arch.cells" 'TRELLIS_FF')
            dsp=$(count "$dir/$arch.cells" 'MULT18X18D'); bram=$(count "$dir/$arch.cells" 'DP16KD')
        fi
        printf '%-7s %5s %8s %8s %5s %5s\n' "$arch" "$lanes" "$lut" "$ff" "$dsp" "$bram"
    done
done

# The rebuild alone: shift-and-add in LUTs, no DSP.
dir="$work/l1"
for arch in xilinx ecp5; do
    yosys -q -p "read_verilog $dir/seedlm_engine.v; hierarchy -top \\seedlm_engine_core\$lanes\$0\$rebuild; synth_$arch; tee -q -o $dir/rebuild_$arch.stat stat" \
        >/dev/null 2>"$dir/rebuild_$arch.err" || { tail -20 "$dir/rebuild_$arch.err" >&2; exit 1; }
    dsp=$(awk '$1 ~ /^(DSP48E1|MULT18X18D)$/ { n += $2 } END { print n + 0 }' "$dir/rebuild_$arch.stat")
    if [ "$dsp" != 0 ]; then
        echo "the weight rebuild uses $dsp DSPs on $arch" >&2
        exit 1
    fi
done
echo "no latches; weight rebuild uses 0 DSPs (xilinx, ecp5)"
