//! Card memory through the XDMA's H2C/C2H channel 0 (AMD PG195, "DMA/Bridge
//! Subsystem for PCI Express", DMA mode), as `bitstreams/vivado/u55c.tcl`
//! builds it: BAR0 the AXI-Lite master (the shell's registers), BAR1 the
//! DMA's registers, the DMA's AXI master on HBM at the shell's device
//! addresses.
//!
//! One transfer is one descriptor: the host side a bounce buffer mapped
//! through the IOMMU, the card side the device address. The channel is
//! started with the descriptor's address in its SGDMA registers and polled
//! until it has completed that descriptor (or reports an error), then
//! stopped. Why descriptors rather than the DMA-bypass BAR window: the
//! result words of every job come back through [`crate::device::Device::read`], and
//! through a bypass BAR those would be uncached MMIO reads (one round trip
//! per 8-64 bytes) instead of the DMA's rate.

use super::sys::{Bar, DmaRegion};
use crate::device::error::{DeviceError, Result};
use std::time::{Duration, Instant};

/// VFIO region of BAR1 (the XDMA's DMA registers).
pub const DMA_BAR_REGION: u32 = 1;
/// Bytes of BAR1 the driver touches (channel 0 of H2C, C2H and their SGDMA).
pub const DMA_BAR_MIN: u64 = 0x6000;

/// Register block of H2C channel 0 (C2H channel 0 at `+ C2H`).
const CHANNEL: usize = 0x0000;
/// SGDMA block of H2C channel 0 (C2H at `+ C2H`).
const SGDMA: usize = 0x4000;
/// Offset of the C2H blocks from the H2C ones.
const C2H: usize = 0x1000;
/// Channel registers (PG195 tables "H2C Channel Registers (0x0)").
const REG_ID: usize = 0x00;
const REG_CONTROL: usize = 0x04;
const REG_STATUS: usize = 0x40;
const REG_COMPLETED: usize = 0x48;
/// SGDMA registers: first descriptor's address, adjacent descriptors.
const REG_DESC_LO: usize = 0x80;
const REG_DESC_HI: usize = 0x84;
const REG_DESC_ADJ: usize = 0x88;
/// Identifier of a channel block: 0x1FC in bits 31:20, then the target
/// (0 H2C channel, 1 C2H channel) in bits 19:16.
const ID_XDMA: u32 = 0x1FC;
/// Control: run (bit 0), and log every stop condition in STATUS: bits 1-6
/// (descriptor stopped, completed, alignment mismatch, magic stopped,
/// invalid length, idle stopped), 9-13 (read errors), 19-23 (descriptor
/// errors).
const CONTROL_RUN: u32 = 1;
const CONTROL_LOG: u32 = 0x00F8_3E7E;
/// Status: busy (bit 0); errors: alignment, magic, length (bits 3-5), read,
/// write and descriptor errors (bits 9-23).
const STATUS_BUSY: u32 = 1 << 0;
const STATUS_ERRORS: u32 = 0x00FF_FE38;

/// Descriptor magic (bits 31:16 of its first word).
const DESC_MAGIC: u32 = 0xAD4B;
/// Descriptor control: stop after this one, interrupt on completion, end of
/// packet.
const DESC_STOP: u32 = 1 << 0;
const DESC_COMPLETED: u32 = 1 << 1;
const DESC_EOP: u32 = 1 << 4;
/// Largest length of one descriptor (28-bit field).
pub const MAX_DESC_LEN: u64 = (1 << 28) - 1;
/// Bytes of one descriptor.
pub const DESC_BYTES: usize = 32;

/// Direction of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Host to card (H2C channel).
    H2c,
    /// Card to host (C2H channel).
    C2h,
}

/// The 32 bytes of one stand-alone descriptor: `len` bytes from host IOVA
/// `host` to card address `card` (H2C) or back (C2H), no next descriptor.
pub fn descriptor(dir: Dir, host: u64, card: u64, len: u32) -> [u8; DESC_BYTES] {
    assert!(len > 0 && u64::from(len) <= MAX_DESC_LEN);
    let (src, dst) = match dir {
        Dir::H2c => (host, card),
        Dir::C2h => (card, host),
    };
    let words = [
        DESC_MAGIC << 16 | DESC_EOP | DESC_COMPLETED | DESC_STOP,
        len,
        src as u32,
        (src >> 32) as u32,
        dst as u32,
        (dst >> 32) as u32,
        0,
        0,
    ];
    let mut out = [0u8; DESC_BYTES];
    for (k, w) in words.iter().enumerate() {
        out[4 * k..4 * k + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// The DMA's registers (BAR1) and the host memory of its descriptors.
pub struct Xdma {
    bar: Bar,
    desc: DmaRegion,
    desc_iova: u64,
}

impl Xdma {
    /// Whether `bar` is an XDMA's DMA BAR: both channel-0 identifiers read
    /// back as XDMA H2C and C2H blocks.
    pub fn is_xdma(bar: &Bar) -> bool {
        let id = |off| bar.read32(off).unwrap_or(0);
        let h2c = id(CHANNEL + REG_ID);
        let c2h = id(CHANNEL + C2H + REG_ID);
        h2c >> 20 == ID_XDMA
            && (h2c >> 16) & 0xF == 0
            && c2h >> 20 == ID_XDMA
            && (c2h >> 16) & 0xF == 1
    }

    /// The DMA on `bar` (checked with [`Xdma::is_xdma`]), its descriptors
    /// in `desc`, which the IOMMU maps at `desc_iova`.
    pub fn new(bar: Bar, desc: DmaRegion, desc_iova: u64) -> Xdma {
        Xdma {
            bar,
            desc,
            desc_iova,
        }
    }

    /// IOVA and bytes of the descriptor memory (to unmap it).
    pub fn desc_mapping(&self) -> (u64, usize) {
        (self.desc_iova, self.desc.len())
    }

    fn reg(&self, off: usize, what: &str) -> Result<u32> {
        self.bar.read32(off).ok_or_else(|| {
            DeviceError::Hardware(format!("XDMA register {off:#x} ({what}) outside BAR1"))
        })
    }

    fn set(&self, off: usize, v: u32) -> Result<()> {
        self.bar
            .write32(off, v)
            .ok_or_else(|| DeviceError::Hardware(format!("XDMA register {off:#x} outside BAR1")))
    }

    /// Moves `len` bytes between host IOVA `host` and card address `card`
    /// with one descriptor, polling for its completion up to `timeout`.
    pub fn transfer(
        &mut self,
        dir: Dir,
        host: u64,
        card: u64,
        len: u32,
        timeout: Duration,
    ) -> Result<()> {
        let base = if dir == Dir::C2h { C2H } else { 0 };
        let (ch, sg) = (CHANNEL + base, SGDMA + base);
        self.desc.write(0, &descriptor(dir, host, card, len));
        self.set(ch + REG_CONTROL, 0)?;
        // Reading STATUS through its read-to-clear alias (+4) clears it.
        self.reg(ch + REG_STATUS + 4, "status")?;
        self.set(sg + REG_DESC_LO, self.desc_iova as u32)?;
        self.set(sg + REG_DESC_HI, (self.desc_iova >> 32) as u32)?;
        self.set(sg + REG_DESC_ADJ, 0)?;
        let done_before = self.reg(ch + REG_COMPLETED, "completed count")?;
        self.set(ch + REG_CONTROL, CONTROL_RUN | CONTROL_LOG)?;
        let t0 = Instant::now();
        let result = loop {
            let status = self.reg(ch + REG_STATUS, "status")?;
            let done = self.reg(ch + REG_COMPLETED, "completed count")?;
            if status & STATUS_ERRORS != 0 {
                break Err(DeviceError::Hardware(format!(
                    "XDMA {dir:?} of {len} bytes (host {host:#x}, card {card:#x}): status {status:#x}"
                )));
            }
            if done != done_before && status & STATUS_BUSY == 0 {
                break Ok(());
            }
            if t0.elapsed() > timeout {
                break Err(DeviceError::Timeout(timeout, status));
            }
            std::hint::spin_loop();
        };
        self.set(ch + REG_CONTROL, 0)?;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_descriptor_layout() {
        // PG195 "Descriptor Format": magic 0xAD4B, control (stop, completed,
        // EOP), length, source, destination, next (none).
        let d = descriptor(Dir::H2c, 0x1_2345_6000, 0x3_0000_0080, 4096);
        let w = |k: usize| u32::from_le_bytes(d[4 * k..4 * k + 4].try_into().unwrap());
        assert_eq!(w(0), 0xAD4B_0013);
        assert_eq!(w(1), 4096);
        assert_eq!((w(2), w(3)), (0x2345_6000, 0x1));
        assert_eq!((w(4), w(5)), (0x0000_0080, 0x3));
        assert_eq!((w(6), w(7)), (0, 0));
        // C2H swaps source and destination.
        let c = descriptor(Dir::C2h, 0x1_2345_6000, 0x3_0000_0080, 4096);
        assert_eq!(c[8..16], d[16..24]);
        assert_eq!(c[16..24], d[8..16]);
    }

    #[test]
    #[should_panic]
    fn test_descriptor_rejects_a_length_over_28_bits() {
        descriptor(Dir::H2c, 0, 0, 1 << 28);
    }
}
