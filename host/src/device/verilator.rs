//! Backend `verilator`: the generated engine RTL, simulated cycle by cycle
//! ([`seedlm_sim::Engine`]), behind the [`Device`] trait.
//!
//! Engine CSR accesses go to the simulated CSR port (each costs the port's
//! cycles). The shell is Rust: on START it reads the job's activation words
//! from [`SimMemory`] into the engine's activation port, starts the engine
//! with the job's ROWS and COL_BLOCKS, offers one tile word per cycle on the
//! block stream (never stalling, as a DMA with data ready would), accepts a
//! result every cycle and writes the results in emitted order to the result
//! range. JOB_CYCLES counts every simulated cycle of the job (activation
//! loads and CSR accesses included); the engine's CYCLES counts START to
//! last result of the last vector.

use super::error::{DeviceError, Result};
use super::memory::SimMemory;
use super::shell::{self, act_stride, tile_stride, Job, ShellRegs, RESULT_STRIDE};
use super::{DevBuf, Device, OpenOptions};
use seedlm::{hw, Config};

/// The simulated accelerator.
pub struct VerilatorDevice {
    cfg: Config,
    lanes: usize,
    sim: seedlm_sim::Engine,
    mem: SimMemory,
    regs: ShellRegs,
}

impl VerilatorDevice {
    /// The simulated engine of `opts.cfg` with `opts.lanes` lanes (one of
    /// the variants `seedlm-sim` compiled) and `opts.mem_size` bytes of
    /// memory.
    pub fn new(opts: &OpenOptions) -> Result<VerilatorDevice> {
        let sim =
            seedlm_sim::Engine::new(&opts.cfg, opts.lanes).map_err(|e| DeviceError::Backend {
                spec: "verilator".into(),
                why: e.to_string(),
            })?;
        Ok(VerilatorDevice {
            cfg: opts.cfg,
            lanes: opts.lanes,
            sim,
            mem: SimMemory::new(opts.mem_size)?,
            regs: ShellRegs::default(),
        })
    }

    /// Runs `job`; returns SHELL_ERROR flags and cycles.
    fn run_job(&mut self, job: Job) -> (u32, u64) {
        if let Err(flags) = job.check(&self.cfg, self.lanes, self.mem.size()) {
            return (flags, 0);
        }
        let t0 = self.sim.ticks();
        let (ts, word_len) = (
            tile_stride(&self.cfg, self.lanes),
            hw::word_bytes(hw::tile_word_bits(&self.cfg, self.lanes)),
        );
        let words: Vec<Vec<u8>> = self
            .mem
            .at(job.tile_addr, job.tile_words as usize * ts)
            .chunks_exact(ts)
            .map(|w| w[..word_len].to_vec())
            .collect();
        let a = act_stride(&self.cfg);
        let depth = self.sim.csr_read(hw::CSR_ACT_DEPTH) as usize;
        let limit = 4 * (words.len() as u64 + job.rows as u64) + 10_000;
        for v in 0..job.batch {
            // Past ACT_DEPTH the engine refuses the run; load what fits.
            let n = (job.col_blocks as usize).min(depth);
            let acts: Vec<Vec<u8>> = self
                .mem
                .at(job.act_at(&self.cfg, v), n * a)
                .chunks_exact(a)
                .map(<[u8]>::to_vec)
                .collect();
            if self.sim.load_activations(&acts).is_err() {
                return (shell::SERR_LENGTH, self.sim.ticks() - t0);
            }
            let run = self.sim.run(
                job.rows,
                job.col_blocks,
                &words,
                &mut || (false, false),
                limit,
            );
            let results = match run {
                Ok(r) => r.results,
                Err(seedlm_sim::Error::Refused(_)) => {
                    return (shell::SERR_ENGINE, self.sim.ticks() - t0)
                }
                // A refused START leaves the stream waiting: the shell sees
                // no progress and tells the two cases apart by ERROR.
                Err(seedlm_sim::Error::Timeout(_)) => {
                    let flags = if self.sim.csr_read(hw::CSR_ERROR) != 0 {
                        shell::SERR_ENGINE
                    } else {
                        shell::SERR_TIMEOUT
                    };
                    return (flags, self.sim.ticks() - t0);
                }
                Err(_) => return (shell::SERR_LENGTH, self.sim.ticks() - t0),
            };
            let out = self
                .mem
                .at_mut(job.res_at(v), job.rows as usize * RESULT_STRIDE);
            for ((row, acc), word) in results.iter().zip(out.chunks_exact_mut(RESULT_STRIDE)) {
                word.copy_from_slice(&hw::pack_result(*row, *acc).to_le_bytes());
            }
        }
        (0, self.sim.ticks() - t0)
    }
}

impl Device for VerilatorDevice {
    fn name(&self) -> String {
        "verilator".into()
    }

    fn read_csr(&mut self, off: u32) -> Result<u32> {
        match self.regs.read(off, self.mem.size()) {
            Some(v) => Ok(v),
            None => Ok(self.sim.csr_read(off)),
        }
    }

    fn write_csr(&mut self, off: u32, v: u32) -> Result<()> {
        if off < shell::SHELL_BASE {
            self.sim.csr_write(off, v);
        }
        self.regs.write(off, v);
        if let Some((job, flags)) = self.regs.take_pending() {
            let (err, cycles) = self.run_job(job);
            self.regs.finish(err | flags, cycles);
        }
        Ok(())
    }

    fn alloc(&mut self, len: usize) -> Result<DevBuf> {
        self.mem.alloc(len)
    }

    fn free(&mut self, buf: DevBuf) -> Result<()> {
        self.mem.free(buf)
    }

    fn write(&mut self, buf: &DevBuf, offset: u64, data: &[u8]) -> Result<()> {
        self.mem.write(buf, offset, data)
    }

    fn read(&mut self, buf: &DevBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        self.mem.read(buf, offset, out)
    }

    fn reset(&mut self) -> Result<()> {
        self.sim.reset();
        self.regs = ShellRegs::default();
        Ok(())
    }
}
