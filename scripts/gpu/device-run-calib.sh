#!/usr/bin/env bash
# The calibrated (weighted) GPU search's checks and speed, in one run on a
# CUDA machine. DIR is what scripts/gpu/stage.sh made (with calib.safetensors:
# real SmolLM2 layers and their H from a calibration run).
# Usage: device-run-calib.sh DIR OUTDIR
set -u
dir=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
log() { echo "== $*" | tee -a "$out/summary.txt"; }
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia/cu13/lib; do
    [ -e "$d/libnvrtc.so.13" ] || [ -e "$d/libnvrtc.so" ] && export LD_LIBRARY_PATH=$d:${LD_LIBRARY_PATH:-}
done
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv | tee "$out/env.txt"
status=0
run() {
    local name=$1
    shift
    local t0=$(date +%s.%N)
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    log "$name: rc=$rc $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
    [ $rc -eq 0 ] || status=1
    grep -v "^test .* ok$\|^$" "$out/$name.log" | tail -n 40
}
# 1. Weighted search vs the CPU's: random metrics, ties, degenerate blocks,
#    naive search, bound error; then the data-free checks again.
run weighted "$dir/test-seedlm-gpu" --test-threads 1 --nocapture weighted
SEEDLM_GPU_BLOCKS=${SEEDLM_GPU_BLOCKS:-50000} run plain "$dir/test-seedlm-gpu" --test-threads 1 --skip weighted
# 2. Real layers with a real H: GPU calibrated search vs CPU, and speed.
SEEDLM_GPU_CALIB="$dir/calib.safetensors" run calib "$dir/test-host-gpu" --nocapture calibrated
grep "blocks equal" "$out/calib.log" >>"$out/summary.txt"
# 3. compress --neighbours (the identity metric) and data-free, CPU vs CUDA.
tmp=$(mktemp -d)
for mode in "--neighbours" ""; do
    for bits in 4 3; do
        "$dir/seedlm" compress "$dir/fixture.safetensors" -o "$tmp/cpu.seedlm" --bits $bits $mode >"$out/c-cpu.log" 2>&1
        "$dir/seedlm" compress "$dir/fixture.safetensors" -o "$tmp/cuda.seedlm" --bits $bits $mode --device cuda >"$out/c-cuda.log" 2>&1
        if cmp "$tmp/cpu.seedlm" "$tmp/cuda.seedlm"; then
            log "compress $bits-bit $mode: CPU and CUDA .seedlm identical ($(stat -c %s "$tmp/cpu.seedlm") bytes)"
        else
            log "compress $bits-bit $mode: DIFFER"; status=1; tail -3 "$out/c-cpu.log" "$out/c-cuda.log"
        fi
        grep -h "searched" "$out/c-cpu.log" "$out/c-cuda.log" | tee -a "$out/summary.txt"
        rm -f "$tmp"/*.seedlm
    done
done
rm -rf "$tmp"
echo
cat "$out/summary.txt"
exit $status
