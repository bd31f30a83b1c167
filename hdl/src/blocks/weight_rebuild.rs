//! Weight rebuild: `r_i = Σ_j u_ij · q_j` with `u = v - 2^15`, by shifts and
//! adds in LUTs (no multipliers), exact as in [`seedlm::fixed`].
//!
//! All arithmetic is two's complement modulo `2^RW` with `RW` =
//! [`seedlm::fixed::rebuild_bits`]; every true value fits, so the result is
//! exact. The centred states `u` come from the
//! [`super::lfsr_expander::LfsrExpander`]; `u · q` for a 4-bit
//! two's-complement `q` is `u·q0 + 2u·q1 + 4u·q2 - 8u·q3`.
//!
//! Three register stages: the `C·P` pair sums `u·q0 + 2u·q1` and
//! `4u·q2 - 8u·q3`, the products, then the `C` sums over `j` (two adds per
//! stage at most: the four-operand product in one stage, behind the
//! mantissa bits' fan-out to every state, held the ECP5 at 133 MHz).

use super::pipe::Pipe;
use super::widths::RW;
use rust_hdl::prelude::*;
use seedlm::Config;

/// Register stages of [`WeightRebuild`], `u`/`q` in to `r` out.
pub const REBUILD_LATENCY: usize = 3;

/// `C·P` centred states and `P` mantissas in, `C` rebuilt weights out
/// ([`REBUILD_LATENCY`] cycles later).
#[derive(LogicBlock)]
pub struct WeightRebuild {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Centred LFSR states `u[i·P + j] = v - 2^15`, `RW`-bit two's complement.
    pub u: Vec<Signal<In, Bits<RW>>>,
    /// Mantissas `q_j`, 4-bit two's complement.
    pub q: Vec<Signal<In, Bits<4>>>,
    /// `r_i`, `RW`-bit two's complement, [`REBUILD_LATENCY`] cycles after
    /// `u` and `q`.
    pub r: Vec<Signal<Out, Bits<RW>>>,
    t0: Vec<Signal<Local, Bits<RW>>>,
    t1: Vec<Signal<Local, Bits<RW>>>,
    t2: Vec<Signal<Local, Bits<RW>>>,
    t3: Vec<Signal<Local, Bits<RW>>>,
    sum: Vec<Signal<Local, Bits<RW>>>,
    pairs: Pipe<Bits<RW>>,
    prod: Pipe<Bits<RW>>,
    acc: Pipe<Bits<RW>>,
    zero: Constant<Bits<RW>>,
    _p: usize,
}

impl WeightRebuild {
    /// The rebuild of configuration `cfg`.
    pub fn new(cfg: &Config) -> Self {
        assert_eq!(
            seedlm::fixed::rebuild_bits(cfg) as usize,
            RW,
            "{cfg}: rebuild width"
        );
        let (c, p) = (cfg.c, cfg.p);
        let locals = |n: usize| (0..n).map(|_| Signal::default()).collect::<Vec<_>>();
        Self {
            clock: Default::default(),
            u: (0..c * p).map(|_| Default::default()).collect(),
            q: (0..p).map(|_| Default::default()).collect(),
            r: (0..c).map(|_| Default::default()).collect(),
            t0: locals(c * p),
            t1: locals(c * p),
            t2: locals(c * p),
            t3: locals(c * p),
            sum: locals(c * (p + 1)),
            pairs: Pipe::new(2 * c * p),
            prod: Pipe::new(c * p),
            acc: Pipe::new(c),
            zero: Constant::new(0.into()),
            _p: p,
        }
    }
}

impl Logic for WeightRebuild {
    #[hdl_gen]
    fn update(&mut self) {
        self.pairs.clock.next = self.clock.val();
        self.prod.clock.next = self.clock.val();
        self.acc.clock.next = self.clock.val();
        for pp in self._p..(self._p + 1) {
            for n in 0..self.u.len() {
                self.t0[n].next = self.zero.val();
                self.t1[n].next = self.zero.val();
                self.t2[n].next = self.zero.val();
                self.t3[n].next = self.zero.val();
                if self.q[n % pp].val().get_bit(0) {
                    self.t0[n].next = self.u[n].val();
                }
                if self.q[n % pp].val().get_bit(1) {
                    self.t1[n].next = self.u[n].val() << 1;
                }
                if self.q[n % pp].val().get_bit(2) {
                    self.t2[n].next = self.u[n].val() << 2;
                }
                if self.q[n % pp].val().get_bit(3) {
                    self.t3[n].next = self.u[n].val() << 3;
                }
                self.pairs.d[2 * n].next = self.t0[n].val() + self.t1[n].val();
                self.pairs.d[2 * n + 1].next = self.t2[n].val() - self.t3[n].val();
                self.prod.d[n].next = self.pairs.q[2 * n].val() + self.pairs.q[2 * n + 1].val();
            }
            for i in 0..self.r.len() {
                self.sum[i * (pp + 1)].next = self.zero.val();
                for j in 0..self._p {
                    self.sum[i * (pp + 1) + j + 1].next =
                        self.sum[i * (pp + 1) + j].val() + self.prod.q[i * pp + j].val();
                }
                self.acc.d[i].next = self.sum[i * (pp + 1) + pp].val();
                self.r[i].next = self.acc.q[i].val();
            }
        }
    }
}

#[cfg(test)]
// The testbenches index port vectors and golden arrays side by side.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use seedlm::config::MAX_P;
    use seedlm::fixed::rebuild_block;
    use seedlm::{Block as SeedBlock, Lfsr};

    /// Sign-extends an `RW`-bit value.
    fn sext(x: u64) -> i64 {
        ((x << (64 - RW)) as i64) >> (64 - RW)
    }

    #[test]
    fn test_weight_rebuild_synthesizes() {
        let mut uut = WeightRebuild::new(&Config::BITS4);
        uut.connect_all();
        yosys_validate("weight_rebuild", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_weight_rebuild_operation() {
        for cfg in [Config::BITS4, Config::BITS3] {
            let mut uut = WeightRebuild::new(&cfg);
            uut.connect_all();
            let mut sim = Simulation::new();
            sim.add_clock(5, |x: &mut Box<WeightRebuild>| {
                x.clock.next = !x.clock.val()
            });
            sim.add_testbench(move |mut sim: Sim<WeightRebuild>| {
                let mut x = sim.init()?;
                let lfsr = Lfsr::new(cfg.k);
                let mut states = vec![0u32; cfg.c * cfg.p];
                let mut pending = std::collections::VecDeque::new();
                for k in 0..40u32 {
                    // Extremes first (all -8, all 7), then a spread of mantissas.
                    let mut q = [0i8; MAX_P];
                    for (j, qj) in q.iter_mut().enumerate().take(cfg.p) {
                        *qj = match k {
                            0 => -8,
                            1 => 7,
                            _ => ((k * 7 + j as u32 * 5) % 16) as i8 - 8,
                        };
                    }
                    let b = SeedBlock {
                        seed: 1 + k * 1637 % 65535,
                        exp: 0,
                        q,
                    };
                    lfsr.states_after(b.seed, &mut states);
                    for (n, &s) in states.iter().enumerate() {
                        x.u[n].next = (((s as i64 - 32768) as u64) & ((1 << RW) - 1)).into();
                    }
                    for j in 0..cfg.p {
                        x.q[j].next = ((q[j] as u64) & 0xF).into();
                    }
                    pending.push_back(rebuild_block(&cfg, &lfsr, &b));
                    wait_clock_cycle!(sim, clock, x);
                    if pending.len() == REBUILD_LATENCY {
                        let want = pending.pop_front().unwrap();
                        for i in 0..cfg.c {
                            sim_assert_eq!(sim, sext(x.r[i].val().to_u64()), want[i] as i64, x);
                        }
                    }
                }
                sim.done(x)
            });
            sim.run(Box::new(uut), 100_000).unwrap();
        }
    }
}
