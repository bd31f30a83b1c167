//! The `seedlm` command-line tool: compress checkpoints into `.seedlm`
//! files, inspect and decompress them, compare their error with the
//! round-to-nearest baseline, run a Llama model on a backend (`generate`,
//! `eval`), talk to the accelerator (`device`), benchmark the search and
//! the kernels (`bench-search`, `bench`), and show it all on a synthetic
//! model (`demo`). One module per subcommand in `cli/`.
//!
//! Outputs are written to a temporary file and renamed into place, and only
//! ever replace a regular file that is not an input, with `--force`
//! (`cli::output`).
//!
//! Exit status: 0 on success, 1 on any error (the error and its causes are
//! printed to stderr, naming the file, tensor and offset at fault), 2 on a
//! usage error (bad option or value, reported by clap).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// SeedLM compression of LLM weights: each block of weights becomes the seed
/// of a 16-bit LFSR plus a few 4-bit coefficients (4.0 or 3.0 bits/weight).
#[derive(Parser, Debug)]
#[command(name = "seedlm", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compress the 2-D weight tensors of a checkpoint (safetensors or GGUF)
    /// into a .seedlm file; other tensors are stored raw. Resumable.
    Compress(cli::compress::Args),
    /// Show each tensor of a .seedlm file: shape, config, bits/weight,
    /// bytes and compression ratios.
    Inspect(cli::inspect::Args),
    /// Decode a .seedlm file into a safetensors file.
    Decompress(cli::decompress::Args),
    /// Compare each compressed tensor with the original: relative error and
    /// SQNR of SeedLM next to round-to-nearest 4-bit and 3-bit.
    Error(cli::compression_error::Args),
    /// Benchmark the seed search (blocks/s, params/s, error) on random blocks.
    BenchSearch(cli::bench_search::Args),
    /// Time Llama-shaped mat-vecs on the CPU (f32, f16, SeedLM 4/3-bit
    /// decoded on the fly) side by side; `--model-board` prints the
    /// performance model of the engine on FPGA boards.
    Bench(cli::bench::Args),
    /// Talk to the accelerator: `device info` prints what it reports,
    /// `device selftest` runs known-answer vectors (backends emu,
    /// verilator, vfio:<pci-addr>).
    Device(cli::device::Args),
    /// Generate text with a Llama model (.seedlm, GGUF or HF directory),
    /// its linear layers on a backend (default: the SmolLM2-135M 4-bit
    /// model on the emulated device).
    Generate(cli::generate::Args),
    /// Evaluate models: `eval ppl` prints perplexity of dense, RTN and
    /// SeedLM models on a text, and greedy agreement with dense.
    Eval(cli::eval::Args),
    /// Run compress, inspect, error and decompress on a small built-in
    /// synthetic model (no download) and check the round trip.
    Demo(cli::demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Compress(a) => cli::compress::run(a),
        Command::Inspect(a) => cli::inspect::run(a),
        Command::Decompress(a) => cli::decompress::run(a),
        Command::Error(a) => cli::compression_error::run(a),
        Command::BenchSearch(a) => cli::bench_search::run(a),
        Command::Bench(a) => cli::bench::run(a),
        Command::Device(a) => cli::device::run(a),
        Command::Demo(a) => cli::demo::run(a),
        Command::Generate(a) => cli::generate::run(a),
        Command::Eval(a) => cli::eval::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
