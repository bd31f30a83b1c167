//! MAC lane: one block word per cycle in, one accumulated row out.
//!
//! Pipeline, counted from the cycle the block word and activation slice are
//! presented (`T = log2(next_pow2(C))` adder-tree levels):
//!
//! | stage | register | work |
//! |---|---|---|
//! | 1 | expander | `C·P` states by jump-ahead XOR networks, centred |
//! | 2 .. 4 | rebuild | `u·q_j` by shift-and-add (two stages), then `Σ_j` |
//! | 5, 6 | multipliers | `r_i · x_i` (DSP M and P registers) |
//! | 7 .. 6+T | adder tree | one register per tree level |
//! | 7+T | shifter | sign-extend the lane sum to 72 bits, `<< (e + 8)` |
//! | 8+T | accumulator | `acc = first ? term : acc + term` (72 bits) |
//!
//! Each stage holds at most a 4-input LUT network, two chained adds of
//! 21 bits, one DSP stage, one 40-bit add, a 16-way shift or one 72-bit add,
//! which is why every stage can close at a few hundred MHz.

use super::adder_tree::{tree_levels, AdderTree};
use super::lfsr_expander::LfsrExpander;
use super::mul_bank::MulBank;
use super::pipe::Pipe;
use super::shifter::Shifter;
use super::weight_rebuild::{WeightRebuild, REBUILD_LATENCY};
use super::widths::{AW, PW, RW};
use rust_hdl::prelude::*;
use seedlm::config::{EXP_BITS, EXP_MIN};
use seedlm::fixed::{lane_sum_bits, EXP_BIAS};
use seedlm::Config;

// `e + 8` equals `e XOR 8` for a 4-bit two's-complement `e` because the
// bias is exactly the exponent's sign weight.
const _: () = assert!(EXP_BIAS == 1 << (EXP_BITS - 1) && EXP_MIN as i32 == -EXP_BIAS);

/// One lane; `BW` = bits of a block word, `XW` = `16·C` bits of an
/// activation slice (the only config-dependent widths; counts are `Vec`s).
#[derive(LogicBlock)]
pub struct MacLane<const BW: usize, const XW: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Block word, layout of [`seedlm::pack::pack_word`].
    pub word: Signal<In, Bits<BW>>,
    /// Activation slice of the block's column block, `x_i` at bits `16i`.
    pub x: Signal<In, Bits<XW>>,
    /// `word` and `x` hold a block.
    pub valid: Signal<In, Bit>,
    /// The block is the first of its row.
    pub first: Signal<In, Bit>,
    /// The block is the last of its row.
    pub last: Signal<In, Bit>,
    /// Accumulator of the row, 72-bit two's complement.
    pub acc: Signal<Out, Bits<AW>>,
    /// `acc` holds a finished row (one cycle).
    pub done: Signal<Out, Bit>,
    expander: LfsrExpander,
    rebuild: WeightRebuild,
    mul: MulBank<RW, PW>,
    q_reg: Pipe<Bits<4>>,
    x_pipe: Pipe<Bits<XW>>,
    tree: AdderTree<PW>,
    exp_pipe: Pipe<Bits<4>>,
    valid_pipe: Pipe<Bit>,
    first_pipe: Pipe<Bit>,
    last_pipe: Pipe<Bit>,
    shifter: Shifter<PW, 4>,
    accr: Pipe<Bits<AW>>,
    done_r: Pipe<Bit>,
    exp_bias: Constant<Bits<4>>,
    _p: usize,
    _t: usize,
}

/// Cycles from a block presented to a lane until its accumulator holds it.
pub fn lane_latency(cfg: &Config) -> usize {
    5 + REBUILD_LATENCY + tree_levels(cfg.c)
}

impl<const BW: usize, const XW: usize> MacLane<BW, XW> {
    /// A lane of configuration `cfg`; `BW` and `XW` must match it.
    pub fn new(cfg: &Config) -> Self {
        assert_eq!(BW, cfg.bits_per_block() as usize, "{cfg}: block word width");
        assert_eq!(XW, 16 * cfg.c, "{cfg}: activation slice width");
        assert!(cfg.c >= 2, "{cfg}: the adder tree needs C >= 2");
        assert!(
            lane_sum_bits(cfg) as usize <= PW,
            "{cfg}: lane sum exceeds {PW} bits"
        );
        let t = tree_levels(cfg.c);
        Self {
            clock: Default::default(),
            word: Default::default(),
            x: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            last: Default::default(),
            acc: Default::default(),
            done: Default::default(),
            expander: LfsrExpander::new(cfg),
            rebuild: WeightRebuild::new(cfg),
            mul: MulBank::new(cfg.c),
            q_reg: Pipe::new(cfg.p),
            x_pipe: Pipe::new(1 + REBUILD_LATENCY),
            tree: AdderTree::new(cfg.c),
            exp_pipe: Pipe::new(3 + REBUILD_LATENCY + t),
            valid_pipe: Pipe::new(4 + REBUILD_LATENCY + t),
            first_pipe: Pipe::new(4 + REBUILD_LATENCY + t),
            last_pipe: Pipe::new(4 + REBUILD_LATENCY + t),
            shifter: Default::default(),
            accr: Pipe::new(1),
            done_r: Pipe::new(1),
            exp_bias: Constant::new((EXP_BIAS as u64).into()),
            _p: cfg.p,
            _t: t,
        }
    }
}

impl<const BW: usize, const XW: usize> Logic for MacLane<BW, XW> {
    #[hdl_gen]
    fn update(&mut self) {
        self.expander.clock.next = self.clock.val();
        self.rebuild.clock.next = self.clock.val();
        self.mul.clock.next = self.clock.val();
        self.q_reg.clock.next = self.clock.val();
        self.x_pipe.clock.next = self.clock.val();
        self.tree.clock.next = self.clock.val();
        self.exp_pipe.clock.next = self.clock.val();
        self.valid_pipe.clock.next = self.clock.val();
        self.first_pipe.clock.next = self.clock.val();
        self.last_pipe.clock.next = self.clock.val();
        self.shifter.clock.next = self.clock.val();
        self.accr.clock.next = self.clock.val();
        self.done_r.clock.next = self.clock.val();
        // Stage 1: expand the seed; hold the mantissas beside it.
        self.expander.seed.next = self.word.val().get_bits::<16>(0);
        for j in 0..self._p {
            self.q_reg.d[j].next = self.word.val().get_bits::<4>(20 + 4 * j);
            self.rebuild.q[j].next = self.q_reg.q[j].val();
        }
        // Stages 2 .. 4: rebuild.
        for n in 0..self.rebuild.u.len() {
            self.rebuild.u[n].next = self.expander.u[n].val();
        }
        // Stages 5, 6: products with the activations, delayed to match.
        self.x_pipe.d[0].next = self.x.val();
        for s in 1..(1 + REBUILD_LATENCY) {
            self.x_pipe.d[s].next = self.x_pipe.q[s - 1].val();
        }
        for s in REBUILD_LATENCY..(REBUILD_LATENCY + 1) {
            for i in 0..self.mul.p.len() {
                self.mul.a[i].next = self.rebuild.r[i].val();
                self.mul.b[i].next = self.x_pipe.q[s].val().get_bits::<16>(16 * i);
            }
        }
        // Stages 7 .. 6+T: the adder tree, one register per level.
        for i in 0..self.mul.p.len() {
            self.tree.x[i].next = self.mul.p[i].val();
        }
        // Exponent and flags travel beside the data.
        self.exp_pipe.d[0].next = self.word.val().get_bits::<4>(16);
        for s in 1..self.exp_pipe.d.len() {
            self.exp_pipe.d[s].next = self.exp_pipe.q[s - 1].val();
        }
        self.valid_pipe.d[0].next = self.valid.val();
        self.first_pipe.d[0].next = self.first.val();
        self.last_pipe.d[0].next = self.last.val();
        for s in 1..self.valid_pipe.d.len() {
            self.valid_pipe.d[s].next = self.valid_pipe.q[s - 1].val();
            self.first_pipe.d[s].next = self.first_pipe.q[s - 1].val();
            self.last_pipe.d[s].next = self.last_pipe.q[s - 1].val();
        }
        // Stage 7+T: sign-extend the lane sum, shift by e + 8 (= e XOR 8).
        self.shifter.d.next = self.tree.sum.val();
        for e in (self._t + 2 + REBUILD_LATENCY)..(self._t + 3 + REBUILD_LATENCY) {
            self.shifter.shift.next = self.exp_pipe.q[e].val() ^ self.exp_bias.val();
        }
        // Stage 8+T: accumulate.
        for f in (self._t + 3 + REBUILD_LATENCY)..(self._t + 4 + REBUILD_LATENCY) {
            self.accr.d[0].next = self.accr.q[0].val();
            if self.valid_pipe.q[f].val() {
                if self.first_pipe.q[f].val() {
                    self.accr.d[0].next = self.shifter.term.val();
                } else {
                    self.accr.d[0].next = self.accr.q[0].val() + self.shifter.term.val();
                }
            }
            self.done_r.d[0].next = self.valid_pipe.q[f].val() & self.last_pipe.q[f].val();
        }
        self.acc.next = self.accr.q[0].val();
        self.done.next = self.done_r.q[0].val();
    }
}

#[cfg(test)]
// The testbenches index port vectors and golden arrays side by side.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use seedlm::fixed::{BlockMatrix, QuantizedActs};
    use seedlm::pack::pack_word;
    use seedlm::sample::random_blocks;

    /// Sign-extends a 72-bit accumulator.
    fn acc_value(x: Bits<AW>) -> i128 {
        let lo = x.get_bits::<64>(0).to_u64() as u128;
        let hi = x.get_bits::<8>(64).to_u64() as u128;
        (((lo | hi << 64) << (128 - AW)) as i128) >> (128 - AW)
    }

    fn run<const BW: usize, const XW: usize>(cfg: Config) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.c as u64);
        let (rows, bpr) = (3usize, 5usize);
        let cols = bpr * cfg.c;
        let blocks = random_blocks(&cfg, rows * bpr, &mut rng);
        let x: Vec<i16> = (0..cols).map(|_| rng.gen_range(-32767..=32767)).collect();
        let m = BlockMatrix {
            cfg,
            rows,
            cols,
            blocks: &blocks,
        };
        let want = m
            .matvec_acc(&QuantizedActs {
                x: x.clone(),
                scale: 1.0,
            })
            .unwrap();
        let mut uut = MacLane::<BW, XW>::new(&cfg);
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |u: &mut Box<MacLane<BW, XW>>| {
            u.clock.next = !u.clock.val()
        });
        sim.add_testbench(move |mut sim: Sim<MacLane<BW, XW>>| {
            let mut u = sim.init()?;
            let mut got = vec![];
            for n in 0..rows * bpr + lane_latency(&cfg) + 2 {
                u.valid.next = n < rows * bpr;
                if n < rows * bpr {
                    let b = n % bpr;
                    u.word.next = pack_word(&cfg, &blocks[n]).into();
                    let mut xs: Bits<XW> = 0.into();
                    for i in 0..cfg.c {
                        let xi: Bits<XW> = ((x[b * cfg.c + i] as u16) as u64).into();
                        xs = xs | (xi << (16 * i) as u64);
                    }
                    u.x.next = xs;
                    u.first.next = b == 0;
                    u.last.next = b == bpr - 1;
                }
                wait_clock_cycle!(sim, clock, u);
                if u.done.val() {
                    got.push(acc_value(u.acc.val()));
                }
            }
            sim_assert_eq!(sim, got, want, u);
            sim.done(u)
        });
        sim.run(Box::new(uut), 100_000).unwrap();
    }

    #[test]
    fn test_mac_lane_synthesizes() {
        let mut uut = MacLane::<32, 128>::new(&Config::BITS4);
        uut.connect_all();
        yosys_validate("mac_lane", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_mac_lane_operation() {
        run::<32, 128>(Config::BITS4);
        run::<36, 192>(Config::BITS3);
    }
}
