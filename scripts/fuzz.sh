#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a short time (not part of
# scripts/test.sh: fuzzing needs libFuzzer and nightly-only flags, allowed
# here on the stable toolchain with RUSTC_BOOTSTRAP=1).
#
#   scripts/fuzz.sh                      # every target, 60 s each
#   scripts/fuzz.sh 600 gguf tokenizer   # these targets, 600 s each
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 0 packer   # a fixed number of executions
#
# Targets: seedlm_file (the .seedlm reader), gguf (GGUF reader, config and
# tokenizer built from its metadata), safetensors (the checkpoint path of
# compress), config (HF config.json), tokenizer (HF tokenizer.json), packer
# (device layout and block stream codec). Seed corpora are cut from the real
# SmolLM2 GGUF (scripts/fetch-model.sh) by fuzz/examples/make_corpus.rs into
# fuzz/corpus/<target>/, which keeps what the fuzzer finds between runs.
# Builds run without a sanitizer but with debug assertions (so arithmetic
# overflow is a crash); a crash leaves its input in fuzz/artifacts/<target>/
# and makes the script exit 1. Each crash found gets a regression test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET=${1:-60}
shift || true
ALL=(seedlm_file gguf safetensors config tokenizer packer)
TARGETS=("${@:-${ALL[@]}}")
# Input size limits: whole small files for the readers, short texts else.
declare -A MAX_LEN=([seedlm_file]=16384 [gguf]=16384 [safetensors]=8192 [config]=4096 [tokenizer]=16384 [packer]=4096)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
model=testdata/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || scripts/fetch-model.sh
if [ ! -d fuzz/corpus/gguf ]; then
    cargo run --release --manifest-path fuzz/Cargo.toml --example make_corpus -- "$model" fuzz/corpus
fi
(cd fuzz && cargo fuzz build -s none -a)

failed=0
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/artifacts/$t"
    limit=(-max_total_time="$SECONDS_PER_TARGET")
    if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); fi
    echo "== $t"
    # One rayon thread: the packer's parallel loops cost more than they
    # save on inputs this small.
    if ! (cd fuzz && RAYON_NUM_THREADS=1 cargo fuzz run -s none -a "$t" "corpus/$t" -- \
            "${limit[@]}" -max_len="${MAX_LEN[$t]}" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 2>&1 |
            grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)|panicked|ERROR|SUMMARY|artifact'); then
        :
    fi
    if [ -n "$(ls -A "fuzz/artifacts/$t")" ]; then
        echo "$t: crash inputs in fuzz/artifacts/$t/"
        failed=1
    fi
done
exit $failed
