#!/usr/bin/env bash
# The GPU search's checks and benchmarks, in one run on a CUDA machine.
#
# Needs prebuilt x86-64 binaries (scripts/gpu/stage.sh puts them in one
# folder with this script and a fixture of real layers):
#   seedlm              release build with --features cuda
#   test-seedlm-gpu     seedlm/tests/gpu.rs  (GPU vs CPU: hard blocks, naive,
#                       tuning, bad input, f32 bound error)
#   test-host-gpu       host/tests/gpu.rs    (GPU vs CPU on real layers)
#   fixture.safetensors a few SmolLM2 layers as f32 (host/examples/gpu_fixture.rs)
# Usage: device-run.sh DIR OUTDIR [BENCH_BLOCKS] [B list] [top-k list] [unroll list]
# Logs go to OUTDIR; the summary is printed last.
set -u
dir=$(cd "$1" && pwd)
out=$2
blocks=${3:-2000000}
bpt=${4:-2}
topk=${5:-16}
unroll=${6:-2}
mkdir -p "$out"
log() { echo "== $*" | tee -a "$out/summary.txt"; }

# libnvrtc: the toolkit's, else the pip wheel's.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia/cu13/lib; do
    [ -e "$d/libnvrtc.so.13" ] || [ -e "$d/libnvrtc.so" ] && export LD_LIBRARY_PATH=$d:${LD_LIBRARY_PATH:-}
done
{
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu --format=csv
    nproc
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    ls -la $(echo "$LD_LIBRARY_PATH" | tr : ' ') 2>/dev/null | grep -i nvrtc
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

status=0
run() {
    local name=$1
    shift
    local t0=$(date +%s.%N)
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    local t1=$(date +%s.%N)
    log "$name: rc=$rc $(python3 -c "print(round($t1 - $t0, 1))") s"
    [ $rc -eq 0 ] || status=1
    tail -n 25 "$out/$name.log"
}

# 1. Exactness.
SEEDLM_GPU_BLOCKS=${SEEDLM_GPU_BLOCKS:-200000} run test-seedlm "$dir/test-seedlm-gpu" --test-threads 1 --nocapture
SEEDLM_GPU_CHECKPOINT="$dir/fixture.safetensors" run test-host "$dir/test-host-gpu" --nocapture

# 2. The .seedlm of the fixture, CPU and GPU, byte for byte.
tmp=$(mktemp -d)
for bits in 4 3; do
    run compress-cpu-$bits /usr/bin/time -v "$dir/seedlm" compress "$dir/fixture.safetensors" -o "$tmp/cpu$bits.seedlm" --bits "$bits"
    run compress-cuda-$bits /usr/bin/time -v "$dir/seedlm" compress "$dir/fixture.safetensors" -o "$tmp/cuda$bits.seedlm" --bits "$bits" --device cuda
    if cmp "$tmp/cpu$bits.seedlm" "$tmp/cuda$bits.seedlm"; then
        log "compress $bits-bit: CPU and CUDA .seedlm identical ($(stat -c %s "$tmp/cpu$bits.seedlm") bytes)"
    else
        log "compress $bits-bit: CPU and CUDA .seedlm DIFFER"
        status=1
    fi
    grep -h "searched\|Maximum resident" "$out/compress-cpu-$bits.log" "$out/compress-cuda-$bits.log" | tee -a "$out/summary.txt"
done
rm -rf "$tmp"

# 3. A larger checkpoint as a stream (BIG_TENSORS tensors of 4096 x 4096
#    f32, 64 MiB each): progress lines, peak host memory, and resume after
#    an interrupt giving the same bytes as an uninterrupted run.
big=${BIG_TENSORS:-16}
if [ "$big" -gt 0 ]; then
    tmp=$(mktemp -d)
    python3 - "$tmp/big.safetensors" "$big" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(1)
save_file({f"layers.{i}.mlp.weight": (rng.standard_normal((4096, 4096), dtype=np.float32) * 0.02)
           for i in range(int(sys.argv[2]))}, sys.argv[1])
PY
    log "big checkpoint: $(stat -c %s "$tmp/big.safetensors") bytes"
    run big-cuda /usr/bin/time -v "$dir/seedlm" compress "$tmp/big.safetensors" -o "$tmp/a.seedlm" --bits 4 --device cuda
    grep -h "searched\|Maximum resident\|Elapsed" "$out/big-cuda.log" | tee -a "$out/summary.txt"
    grep -h "^\[" "$out/big-cuda.log" | head -3 | tee -a "$out/summary.txt"
    timeout -s INT 4 "$dir/seedlm" compress "$tmp/big.safetensors" -o "$tmp/b.seedlm" --bits 4 --device cuda >"$out/big-interrupted.log" 2>&1
    log "interrupted run: rc=$? ($(grep -c '^\[' "$out/big-interrupted.log") tensors logged)"
    run big-resume "$dir/seedlm" compress "$tmp/big.safetensors" -o "$tmp/b.seedlm" --bits 4 --device cuda
    grep -h "resuming\|reused\|searched" "$out/big-resume.log" | tee -a "$out/summary.txt"
    if cmp "$tmp/a.seedlm" "$tmp/b.seedlm"; then
        log "big: resumed output identical to the uninterrupted one"
    else
        log "big: resumed output DIFFERS"
        status=1
    fi
    rm -rf "$tmp"
fi

# 4. Throughput.
run bench "$dir/seedlm" bench-search --device cuda --blocks "$blocks" --gpu-blocks-per-thread "$bpt" --gpu-top-k "$topk" --gpu-unroll "$unroll"
cat "$out/bench.log" >>"$out/summary.txt"
nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv >>"$out/summary.txt" 2>&1
echo
cat "$out/summary.txt"
exit $status
