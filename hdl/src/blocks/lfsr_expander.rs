//! LFSR expander: all `C·P` states of a block in one cycle, centred.
//!
//! State `n` (`0 <= n < C·P`) is the state `n + 1` steps after the seed,
//! `v[n] = J^(n+1) · seed` over GF(2), where `J^(n+1)` is
//! [`Lfsr::jump_matrix`] of the codec's own taps. Each output bit is the
//! parity of the seed bits its matrix row selects: a fixed XOR network, at
//! most `K` inputs deep (two LUT6 levels), then one register.
//!
//! The output is already centred, `u[n] = v[n] - 2^15` as an `RW`-bit two's
//! complement number: `v XOR 0x8000` sign-extended, i.e. the top parity bit
//! inverted and replicated, which costs nothing on top of the XOR network.
//!
//! The body is emitted as custom Verilog: rust-hdl 0.46's `#[hdl_gen]` has
//! no bit concatenation and may not read `.next`, so it cannot assemble a
//! word from `K` parity bits; the network comes from the same matrices as
//! the simulation model below.

use super::widths::RW;
use rust_hdl::prelude::*;
use seedlm::lfsr::{apply, Lfsr};
use seedlm::Config;

/// LFSR width the hardware supports (both paper configurations).
pub const K: usize = 16;

/// Seed in, the `C·P` following states out, centred and registered (latency 1).
#[derive(LogicBlock)]
pub struct LfsrExpander {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Seed, 16 bits, nonzero.
    pub seed: Signal<In, Bits<K>>,
    /// `u[n]`: the state `n + 1` steps after `seed`, minus `2^15`, `RW`-bit
    /// two's complement, one cycle later.
    pub u: Vec<Signal<Out, Bits<RW>>>,
    _rows: Vec<Vec<u32>>,
}

impl LfsrExpander {
    /// The expander of configuration `cfg` (which must have `K = 16`).
    pub fn new(cfg: &Config) -> Self {
        assert_eq!(cfg.k as usize, K, "the hardware supports K = {K} only");
        let lfsr = Lfsr::new(cfg.k);
        let n = cfg.c * cfg.p;
        Self {
            clock: Default::default(),
            seed: Default::default(),
            u: (0..n).map(|_| Default::default()).collect(),
            _rows: (0..n).map(|i| lfsr.jump_matrix(i as u64 + 1)).collect(),
        }
    }
}

impl Logic for LfsrExpander {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let s = self.seed.val().to_u64() as u32;
            for (u, rows) in self.u.iter_mut().zip(&self._rows) {
                let centred = apply(rows, s) as i64 - (1 << (K - 1));
                u.next = ((centred as u64) & ((1 << RW) - 1)).into();
            }
        }
    }

    fn connect(&mut self) {
        for u in &mut self.u {
            u.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        let mut init = String::new();
        let mut body = String::new();
        for (n, rows) in self._rows.iter().enumerate() {
            let low: Vec<String> = rows[..K - 1]
                .iter()
                .rev()
                .map(|m| format!("^(seed & {K}'h{m:04x})"))
                .collect();
            let sign = format!("~^(seed & {K}'h{:04x})", rows[K - 1]);
            init += &format!("   u${n} = {RW}'h0;\n");
            body += &format!(
                "   u${n} <= {{{{{}{{{sign}}}}}, {}}};\n",
                RW - K + 1,
                low.join(", ")
            );
        }
        Verilog::Custom(format!(
            "initial begin\n{init}end\n\nalways @(posedge clock) begin\n{body}end\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_lfsr_expander_synthesizes() {
        let mut uut = LfsrExpander::new(&Config::BITS4);
        uut.connect_all();
        yosys_validate("lfsr_expander", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_lfsr_expander_operation() {
        for cfg in [Config::BITS4, Config::BITS3] {
            let mut uut = LfsrExpander::new(&cfg);
            uut.connect_all();
            let mut sim = Simulation::new();
            sim.add_clock(5, |x: &mut Box<LfsrExpander>| x.clock.next = !x.clock.val());
            sim.add_testbench(move |mut sim: Sim<LfsrExpander>| {
                let mut x = sim.init()?;
                let lfsr = Lfsr::new(16);
                let mut want = vec![0u32; cfg.c * cfg.p];
                for seed in [1u32, 2, 0xACE1, 0xFFFF, 0x8000, 12345] {
                    x.seed.next = (seed as u64).into();
                    wait_clock_cycle!(sim, clock, x);
                    lfsr.states_after(seed, &mut want);
                    for (n, &w) in want.iter().enumerate() {
                        let u = ((x.u[n].val().to_u64() << (64 - RW)) as i64) >> (64 - RW);
                        sim_assert_eq!(sim, u, w as i64 - 32768, x);
                    }
                }
                sim.done(x)
            });
            sim.run(Box::new(uut), 10_000).unwrap();
        }
    }
}
