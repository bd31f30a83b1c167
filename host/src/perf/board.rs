//! Board profiles: memory, PCIe link and the clock the engine runs at.
//!
//! Data sheet figures (AMD/Xilinx):
//! - Alveo U55C (DS978, "Alveo U55C Data Center Accelerator Card Data
//!   Sheet"): 16 GB HBM2 at 460 GB/s; PCIe Gen3 x16, Gen4 x8 or CCIX;
//!   1,304K LUTs, 9,024 DSP slices.
//! - Alveo U250 (DS962, "Alveo U200 and U250 Data Center Accelerator Cards
//!   Data Sheet"): 64 GB DDR4 in four 16 GB channels at 2400 MT/s,
//!   77 GB/s; PCIe Gen3 x16; 1,728K LUTs, 12,288 DSP slices.
//!
//! Assumptions (parameters, not data sheet figures): the engine clock
//! (300 MHz, the default kernel clock of the Vitis shells of both cards),
//! the PCIe efficiency [`PCIE_EFFICIENCY`], the memory latencies the shell
//! sees ([`Board::read_latency`], [`Board::write_latency`]) and the host's
//! part of one call [`Board::call_us`]. The shell's part of a call is not
//! an assumption: its cycles come from [`seedlm::hw::shell::OverheadModel`],
//! which the co-simulation of `seedlm_accel` pins (2048x2048, 4-bit,
//! 16 lanes: 32,911 cycles at latency 0, 33,110 at read 200 / write 0,
//! 33,309 at 200 / 200, against 32,796 for the engine alone).

/// Share of the raw PCIe rate a DMA achieves: TLP headers and framing on
/// 256-byte payloads (about 24 bytes per TLP), flow-control and descriptor
/// traffic. An assumption; XDMA measurements typically land at 75-85%.
pub const PCIE_EFFICIENCY: f64 = 0.8;

/// A PCIe link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcie {
    /// Generation, 1..=5.
    pub gen: u32,
    /// Lanes (x1..x16).
    pub lanes: u32,
}

impl Pcie {
    /// Raw data rate per direction in bytes/s: transfer rate per lane
    /// (2.5, 5, 8, 16, 32 GT/s) times the line-code efficiency (8b/10b for
    /// Gen1-2, 128b/130b from Gen3) times the lanes, over 8 bits.
    pub fn raw_bytes_per_s(&self) -> f64 {
        let (gt, code) = match self.gen {
            1 => (2.5e9, 0.8),
            2 => (5.0e9, 0.8),
            3 => (8.0e9, 128.0 / 130.0),
            4 => (16.0e9, 128.0 / 130.0),
            _ => (32.0e9, 128.0 / 130.0),
        };
        gt * code * self.lanes as f64 / 8.0
    }

    /// What a DMA moves per direction in bytes/s (raw times
    /// [`PCIE_EFFICIENCY`]).
    pub fn bytes_per_s(&self) -> f64 {
        self.raw_bytes_per_s() * PCIE_EFFICIENCY
    }

    /// Parses `gen3x16`-style names (generation 1-5, lanes 1, 2, 4, 8, 16).
    pub fn parse(s: &str) -> Result<Pcie, String> {
        let bad = || format!("bad PCIe link {s:?}: expected genGxL, e.g. gen3x16 or gen4x8");
        let rest = s.to_ascii_lowercase();
        let rest = rest.strip_prefix("gen").ok_or_else(bad)?;
        let (g, l) = rest.split_once('x').ok_or_else(bad)?;
        let gen: u32 = g.parse().map_err(|_| bad())?;
        let lanes: u32 = l.parse().map_err(|_| bad())?;
        if !(1..=5).contains(&gen) || ![1, 2, 4, 8, 16].contains(&lanes) {
            return Err(bad());
        }
        Ok(Pcie { gen, lanes })
    }
}

impl std::fmt::Display for Pcie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gen{}x{}", self.gen, self.lanes)
    }
}

/// An accelerator board as the performance model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Board {
    /// Short name (`u55c`, `u250`).
    pub name: String,
    /// Peak memory bandwidth in bytes/s.
    pub mem_bytes_per_s: f64,
    /// Memory capacity in bytes.
    pub mem_capacity: u64,
    /// The host link.
    pub pcie: Pcie,
    /// Engine clock in Hz.
    pub clock_hz: f64,
    /// The host's fixed part of one call in microseconds: the shell's job
    /// registers (posted MMIO writes), the activation (H2C) and result
    /// (C2H) DMA descriptors and three completions (SHELL_STATUS and the
    /// two DMA channels), each a non-posted read round trip. An
    /// assumption: a read round trip about 1 us, posted writes well under.
    /// The shell's own cycles are modelled apart (see the module docs).
    pub call_us: f64,
    /// Cycles from the shell's read request to its first data beat (board
    /// memory behind the interconnect), at the engine clock. An
    /// assumption: 200 cycles (667 ns at 300 MHz), the largest latency the
    /// co-simulation was run at.
    pub read_latency: u64,
    /// Cycles from the shell's last write beat to its response.
    pub write_latency: u64,
}

impl Board {
    /// Alveo U55C-class: HBM2, 460 GB/s, 16 GB, PCIe Gen3 x16 (DS978).
    pub fn u55c() -> Board {
        Board {
            name: "u55c".into(),
            mem_bytes_per_s: 460e9,
            mem_capacity: 16 << 30,
            pcie: Pcie { gen: 3, lanes: 16 },
            clock_hz: 300e6,
            call_us: 3.0,
            read_latency: 200,
            write_latency: 200,
        }
    }

    /// Alveo U250-class: 4 x DDR4-2400, 77 GB/s, 64 GB, PCIe Gen3 x16
    /// (DS962).
    pub fn u250() -> Board {
        Board {
            name: "u250".into(),
            mem_bytes_per_s: 77e9,
            mem_capacity: 64 << 30,
            pcie: Pcie { gen: 3, lanes: 16 },
            clock_hz: 300e6,
            call_us: 3.0,
            read_latency: 200,
            write_latency: 200,
        }
    }

    /// The named profile (`u55c`, `u250`).
    pub fn by_name(name: &str) -> Result<Board, String> {
        match name.to_ascii_lowercase().as_str() {
            "u55c" => Ok(Board::u55c()),
            "u250" => Ok(Board::u250()),
            _ => Err(format!("unknown board {name:?} (known: u55c, u250)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pcie_rates_known_answers() {
        // Gen3 x16: 8 GT/s * 128/130 * 16 / 8 = 15.754 GB/s per direction;
        // Gen4 x8 is the same; Gen2 x8: 5 GT/s * 0.8 * 8 / 8 = 4 GB/s.
        let g3 = Pcie::parse("gen3x16").unwrap();
        assert!((g3.raw_bytes_per_s() - 15.7538e9).abs() < 1e6);
        let g4 = Pcie::parse("Gen4x8").unwrap();
        assert_eq!(g3.raw_bytes_per_s(), g4.raw_bytes_per_s());
        assert_eq!(Pcie::parse("gen2x8").unwrap().raw_bytes_per_s(), 4e9);
        assert_eq!(g3.to_string(), "Gen3x16");
        for bad in ["gen3", "x16", "gen6x16", "gen3x3", "genAx4"] {
            assert!(Pcie::parse(bad).is_err(), "{bad}");
        }
        assert!(Board::by_name("U55C").is_ok());
        assert!(Board::by_name("vcu118").is_err());
    }
}
