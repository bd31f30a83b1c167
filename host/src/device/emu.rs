//! Backend `emu`: the golden model of [`seedlm::fixed`] behind the
//! [`Device`] trait, the functional reference of the accelerator.
//!
//! Registers behave as on the board: the engine's read-only CSRs report the
//! emulated configuration, the shell's registers describe a job, and START
//! runs it to completion before the write returns (so [`Device::wait`]
//! finds DONE at once). A job reads its tile words, activations and result
//! range from [`SimMemory`], checks them as the shell and the engine do
//! (same `SHELL_ERROR`/`ERROR` flags as the RTL), and computes the
//! accumulators with the integer form of [`seedlm::kernel`]
//! ([`SeedMatrix::matvec_acc`]: bit-exact with the golden model, rayon over
//! rows, every block rebuilt once per batch).
//!
//! Decoded tiles are cached by their address range and dropped when the
//! host writes into that range, so a layer is unpacked once, not per call.
//! Writes to the engine's CTRL are ignored: the shell starts the engine.

use super::error::Result;
use super::memory::SimMemory;
use super::packer::unpack_tiles;
use super::shell::{self, act_stride, tile_stride, Job, ShellRegs, RESULT_STRIDE};
use super::{DevBuf, Device, OpenOptions};
use seedlm::fixed::{BlockMatrix, QuantizedActs};
use seedlm::kernel::SeedMatrix;
use seedlm::{hw, Config};
use std::sync::Arc;

/// Decoded tiles of one layer: `(tile_addr, tile byte length, rows, col_blocks)`.
type TileKey = (u64, u64, u32, u32);

/// The emulated accelerator.
pub struct EmuDevice {
    cfg: Config,
    lanes: usize,
    act_depth: u32,
    mem: SimMemory,
    regs: ShellRegs,
    engine_error: u32,
    cache: Vec<(TileKey, Arc<SeedMatrix>)>,
    /// The kernel's cycle, built at open (and checked to exist for K).
    _cycle: Arc<seedlm::cycle::Cycle>,
}

impl EmuDevice {
    /// An emulated engine of `opts.cfg` with `opts.lanes` lanes, the
    /// hardware's activation depth and `opts.mem_size` bytes of memory.
    pub fn new(opts: &OpenOptions) -> Result<EmuDevice> {
        hw::check_lanes(opts.lanes)?;
        Ok(EmuDevice {
            cfg: opts.cfg,
            lanes: opts.lanes,
            act_depth: 1 << hw::DEFAULT_ACT_ADDR_BITS,
            mem: SimMemory::new(opts.mem_size)?,
            regs: ShellRegs::default(),
            engine_error: 0,
            // Fails for K > 16 (the kernel's centred states are i16).
            _cycle: seedlm::kernel::shared_cycle(opts.cfg.k)?,
            cache: Vec::new(),
        })
    }

    /// Runs the job in the registers; returns SHELL_ERROR flags (0: done).
    fn run_job(&mut self) -> u32 {
        let job = self.regs.job;
        self.engine_error = 0;
        if let Err(flags) = job.check(&self.cfg, self.lanes, self.mem.size()) {
            return flags;
        }
        if job.rows == 0 || job.col_blocks == 0 {
            self.engine_error = hw::ERR_EMPTY;
        } else if job.col_blocks > self.act_depth {
            self.engine_error = hw::ERR_ACT_DEPTH;
        }
        if self.engine_error != 0 {
            return shell::SERR_ENGINE;
        }
        let (rows, bpr) = (job.rows as usize, job.col_blocks as usize);
        let m = self.tiles(&job);
        let xs: Vec<QuantizedActs> = (0..job.batch)
            .map(|v| {
                let bytes = self
                    .mem
                    .at(job.act_at(&self.cfg, v), bpr * act_stride(&self.cfg));
                QuantizedActs {
                    x: bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]))
                        .collect(),
                    scale: 1.0,
                }
            })
            .collect();
        let refs: Vec<&QuantizedActs> = xs.iter().collect();
        let accs = m
            .matvec_acc(&refs)
            .expect("shape and activation lengths checked above");
        for (v, acc) in accs.iter().enumerate() {
            let out = self.mem.at_mut(job.res_at(v as u32), rows * RESULT_STRIDE);
            for (row, (&a, word)) in acc.iter().zip(out.chunks_exact_mut(16)).enumerate() {
                word.copy_from_slice(&hw::pack_result(row as u32, a).to_le_bytes());
            }
        }
        0
    }

    /// The job's tiles in the kernel's layout, from the cache if present.
    fn tiles(&mut self, job: &Job) -> Arc<SeedMatrix> {
        let len = job.tile_words as u64 * tile_stride(&self.cfg, self.lanes) as u64;
        let key = (job.tile_addr, len, job.rows, job.col_blocks);
        if let Some((_, m)) = self.cache.iter().find(|(k, _)| *k == key) {
            return m.clone();
        }
        let (rows, bpr) = (job.rows as usize, job.col_blocks as usize);
        let blocks = unpack_tiles(
            &self.cfg,
            self.lanes,
            rows,
            bpr,
            self.mem.at(job.tile_addr, len as usize),
        );
        let m = SeedMatrix::new(&BlockMatrix {
            cfg: self.cfg,
            rows,
            cols: bpr * self.cfg.c,
            blocks: &blocks,
        })
        .expect("K <= 16 checked at open; unpacked seeds are K bits wide");
        let m = Arc::new(m);
        self.cache.push((key, m.clone()));
        m
    }

    /// Drops cached tiles that overlap `[addr, addr + len)`.
    fn invalidate(&mut self, addr: u64, len: u64) {
        self.cache
            .retain(|((a, l, _, _), _)| a + l <= addr || addr + len <= *a);
    }
}

impl Device for EmuDevice {
    fn name(&self) -> String {
        "emu".into()
    }

    fn read_csr(&mut self, off: u32) -> Result<u32> {
        if let Some(v) = self.regs.read(off, self.mem.size()) {
            return Ok(v);
        }
        Ok(match off {
            hw::CSR_STATUS => {
                let s = self.regs.status;
                ((s & shell::SHELL_DONE != 0) as u32 * hw::STATUS_DONE)
                    | ((self.engine_error != 0) as u32 * hw::STATUS_ERROR)
            }
            hw::CSR_ROWS => self.regs.job.rows,
            hw::CSR_COL_BLOCKS => self.regs.job.col_blocks,
            hw::CSR_ERROR => self.engine_error,
            hw::CSR_VERSION => hw::VERSION,
            hw::CSR_CONFIG => hw::encode_config(&self.cfg, self.lanes),
            hw::CSR_ACT_DEPTH => self.act_depth,
            _ => 0,
        })
    }

    fn write_csr(&mut self, off: u32, v: u32) -> Result<()> {
        if self.regs.write(off, v) {
            self.regs.status = shell::SHELL_BUSY;
            let err = self.run_job();
            self.regs.finish(err, 0);
        }
        Ok(())
    }

    fn alloc(&mut self, len: usize) -> Result<DevBuf> {
        self.mem.alloc(len)
    }

    fn free(&mut self, buf: DevBuf) -> Result<()> {
        self.invalidate(buf.addr, buf.len);
        self.mem.free(buf)
    }

    fn write(&mut self, buf: &DevBuf, offset: u64, data: &[u8]) -> Result<()> {
        self.mem.write(buf, offset, data)?;
        self.invalidate(buf.addr + offset, data.len() as u64);
        Ok(())
    }

    fn read(&mut self, buf: &DevBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        self.mem.read(buf, offset, out)
    }

    fn reset(&mut self) -> Result<()> {
        self.regs = ShellRegs::default();
        self.engine_error = 0;
        Ok(())
    }
}
