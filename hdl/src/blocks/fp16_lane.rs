//! FP16 baseline lane: one lane word of [`FP16_C`] f16 weights per cycle,
//! plain MACs against the same activation slice as a 4-bit SeedLM lane,
//! one accumulated row out. Numerics of [`seedlm::fixed_fp16`].
//!
//! Pipeline, counted from the cycle the lane word and activation slice are
//! presented (`T = log2(next_pow2(8)) = 3` adder-tree levels):
//!
//! | stage | register | work |
//! |---|---|---|
//! | 1 | decode | f16 → signed significand (12 bits) and shift (0..=29) |
//! | 2, 3 | multipliers | `sig_i · x_i`, 12 × 16 bits (DSP M and P registers) |
//! | 4 | shifters | each product sign-extended to 72 bits, `<< sh_i` |
//! | 5 .. 4+T | adder tree | one 72-bit add per level |
//! | 5+T | accumulator | `acc = first ? sum : acc + sum` (72 bits) |
//!
//! The tree runs at the accumulator width: the terms are < 2^55, so 60 bits
//! would do, but 72 keeps one `Shifter` and one `AdderTree` for both lanes
//! and costs 7 × 12 adder bits per lane.

use super::adder_tree::{tree_levels, AdderTree};
use super::fp16_decode::{Fp16Decode, SHW, SIGW};
use super::mul_bank::MulBank;
use super::pipe::Pipe;
use super::shifter::Shifter;
use super::widths::AW;
use rust_hdl::prelude::*;
use seedlm::fixed_fp16::{FP16_C, FP16_TERM_BITS};

/// Bits of a lane word and of an activation slice, `8 · 16`.
pub const FP16_WORD_BITS: usize = FP16_C * 16;
/// Bits of a product `sig · x`.
pub const FP16_PW: usize = SIGW + 16;
const _: () = assert!(FP16_TERM_BITS as usize <= AW && FP16_PW + (1 << SHW) - 1 <= AW);

/// Cycles from a lane word presented until the accumulator holds it.
pub fn fp16_lane_latency() -> usize {
    5 + tree_levels(FP16_C)
}

/// One FP16 lane (same ports as [`super::mac_lane::MacLane`]).
#[derive(LogicBlock)]
pub struct Fp16Lane {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Lane word: f16 weight `i` at bits `16i`.
    pub word: Signal<In, Bits<FP16_WORD_BITS>>,
    /// Activation slice, `x_i` at bits `16i`.
    pub x: Signal<In, Bits<FP16_WORD_BITS>>,
    /// `word` and `x` hold a lane word.
    pub valid: Signal<In, Bit>,
    /// The lane word is the first of its row.
    pub first: Signal<In, Bit>,
    /// The lane word is the last of its row.
    pub last: Signal<In, Bit>,
    /// Accumulator of the row, 72-bit two's complement.
    pub acc: Signal<Out, Bits<AW>>,
    /// `acc` holds a finished row (one cycle).
    pub done: Signal<Out, Bit>,
    dec: Fp16Decode,
    x_reg: Pipe<Bits<FP16_WORD_BITS>>,
    mul: MulBank<SIGW, FP16_PW>,
    sh1: Pipe<Bits<SHW>>,
    sh2: Pipe<Bits<SHW>>,
    shifters: Vec<Shifter<FP16_PW, SHW>>,
    tree: AdderTree<AW>,
    valid_pipe: Pipe<Bit>,
    first_pipe: Pipe<Bit>,
    last_pipe: Pipe<Bit>,
    accr: Pipe<Bits<AW>>,
    done_r: Pipe<Bit>,
}

impl Default for Fp16Lane {
    fn default() -> Self {
        let stages = 4 + tree_levels(FP16_C);
        Self {
            clock: Default::default(),
            word: Default::default(),
            x: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            last: Default::default(),
            acc: Default::default(),
            done: Default::default(),
            dec: Fp16Decode::new(FP16_C),
            x_reg: Pipe::new(1),
            mul: MulBank::new(FP16_C),
            sh1: Pipe::new(FP16_C),
            sh2: Pipe::new(FP16_C),
            shifters: (0..FP16_C).map(|_| Default::default()).collect(),
            tree: AdderTree::new(FP16_C),
            valid_pipe: Pipe::new(stages),
            first_pipe: Pipe::new(stages),
            last_pipe: Pipe::new(stages),
            accr: Pipe::new(1),
            done_r: Pipe::new(1),
        }
    }
}

impl Logic for Fp16Lane {
    #[hdl_gen]
    fn update(&mut self) {
        self.dec.clock.next = self.clock.val();
        self.x_reg.clock.next = self.clock.val();
        self.mul.clock.next = self.clock.val();
        self.sh1.clock.next = self.clock.val();
        self.sh2.clock.next = self.clock.val();
        self.tree.clock.next = self.clock.val();
        self.valid_pipe.clock.next = self.clock.val();
        self.first_pipe.clock.next = self.clock.val();
        self.last_pipe.clock.next = self.clock.val();
        self.accr.clock.next = self.clock.val();
        self.done_r.clock.next = self.clock.val();
        // Stage 1: decode; the activations wait beside it.
        for i in 0..self.dec.w.len() {
            self.dec.w[i].next = self.word.val().get_bits::<16>(16 * i);
        }
        self.x_reg.d[0].next = self.x.val();
        // Stages 2, 3: products; the shifts travel beside them.
        for i in 0..self.mul.p.len() {
            self.mul.a[i].next = self.dec.sig[i].val();
            self.mul.b[i].next = self.x_reg.q[0].val().get_bits::<16>(16 * i);
            self.sh1.d[i].next = self.dec.sh[i].val();
            self.sh2.d[i].next = self.sh1.q[i].val();
        }
        // Stage 4: each product at its weight's exponent.
        for i in 0..self.shifters.len() {
            self.shifters[i].clock.next = self.clock.val();
            self.shifters[i].d.next = self.mul.p[i].val();
            self.shifters[i].shift.next = self.sh2.q[i].val();
            self.tree.x[i].next = self.shifters[i].term.val();
        }
        // Flags travel beside the data.
        self.valid_pipe.d[0].next = self.valid.val();
        self.first_pipe.d[0].next = self.first.val();
        self.last_pipe.d[0].next = self.last.val();
        for s in 1..self.valid_pipe.d.len() {
            self.valid_pipe.d[s].next = self.valid_pipe.q[s - 1].val();
            self.first_pipe.d[s].next = self.first_pipe.q[s - 1].val();
            self.last_pipe.d[s].next = self.last_pipe.q[s - 1].val();
        }
        // Stage 5+T: accumulate.
        for f in (self.valid_pipe.d.len() - 1)..self.valid_pipe.d.len() {
            self.accr.d[0].next = self.accr.q[0].val();
            if self.valid_pipe.q[f].val() {
                if self.first_pipe.q[f].val() {
                    self.accr.d[0].next = self.tree.sum.val();
                } else {
                    self.accr.d[0].next = self.accr.q[0].val() + self.tree.sum.val();
                }
            }
            self.done_r.d[0].next = self.valid_pipe.q[f].val() & self.last_pipe.q[f].val();
        }
        self.acc.next = self.accr.q[0].val();
        self.done.next = self.done_r.q[0].val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use seedlm::fixed_fp16::fp16_matvec_acc;

    /// Sign-extends a 72-bit accumulator.
    fn acc_value(x: Bits<AW>) -> i128 {
        let lo = x.get_bits::<64>(0).to_u64() as u128;
        let hi = x.get_bits::<8>(64).to_u64() as u128;
        (((lo | hi << 64) << (128 - AW)) as i128) >> (128 - AW)
    }

    fn pack(v: &[u16]) -> Bits<FP16_WORD_BITS> {
        v.iter().enumerate().fold(0.into(), |acc, (i, &w)| {
            let wi: Bits<FP16_WORD_BITS> = (w as u64).into();
            acc | (wi << (16 * i) as u64)
        })
    }

    #[test]
    fn test_fp16_lane_synthesizes() {
        let mut uut = Fp16Lane::default();
        uut.connect_all();
        yosys_validate("fp16_lane", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_fp16_lane_operation() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let (rows, bpr) = (4usize, 5usize);
        let cols = bpr * FP16_C;
        // Every bit pattern is fair game: subnormals, zeros, inf and NaN.
        let mut w: Vec<u16> = (0..rows * cols).map(|_| rng.gen()).collect();
        w[..4].copy_from_slice(&[0x7BFF, 0xFBFF, 0x7C00, 0x0001]);
        let mut x: Vec<i16> = (0..cols).map(|_| rng.gen()).collect();
        x[..2].copy_from_slice(&[-32768, 32767]);
        let want = fp16_matvec_acc(rows, cols, &w, &x).unwrap();
        let mut uut = Fp16Lane::default();
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |u: &mut Box<Fp16Lane>| u.clock.next = !u.clock.val());
        sim.add_testbench(move |mut sim: Sim<Fp16Lane>| {
            let mut u = sim.init()?;
            let mut got = vec![];
            for n in 0..rows * bpr + fp16_lane_latency() + 2 {
                u.valid.next = n < rows * bpr;
                if n < rows * bpr {
                    let (r, b) = (n / bpr, n % bpr);
                    let at = r * cols + b * FP16_C;
                    u.word.next = pack(&w[at..at + FP16_C]);
                    let xs: Vec<u16> = x[b * FP16_C..(b + 1) * FP16_C]
                        .iter()
                        .map(|&v| v as u16)
                        .collect();
                    u.x.next = pack(&xs);
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
}
