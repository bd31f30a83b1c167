//! FP16 weight decode for the baseline lane: each f16 bit pattern becomes
//! the signed significand `sig` (12 bits) and the shift `sh` (5 bits) of
//! [`seedlm::fixed_fp16::fp16_decode`], registered (one stage).
//!
//! Custom Verilog: the decode needs a concatenation (hidden bit) and a
//! negation at a new width, which `#[hdl_gen]` cannot express lint-clean.
//! Per weight it is a 5-bit compare, an 11-bit negate and a 5-bit
//! decrement: a few LUT levels.

use rust_hdl::prelude::*;
use seedlm::fixed_fp16::{FP16_SHIFT_MAX, FP16_SIG_BITS};

/// Width of a significand.
pub const SIGW: usize = FP16_SIG_BITS as usize;
/// Width of a shift.
pub const SHW: usize = 5;
const _: () = assert!(FP16_SHIFT_MAX < 1 << SHW);

/// `(sig[i], sh[i]) = fp16_decode(w[i])`, one cycle later.
#[derive(LogicBlock)]
pub struct Fp16Decode {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// f16 bit patterns.
    pub w: Vec<Signal<In, Bits<16>>>,
    /// Signed significands, `SIGW`-bit two's complement (0 for inf, NaN).
    pub sig: Vec<Signal<Out, Bits<SIGW>>>,
    /// Shifts, `0..=29`.
    pub sh: Vec<Signal<Out, Bits<SHW>>>,
}

impl Fp16Decode {
    /// `n` decoders.
    pub fn new(n: usize) -> Self {
        Self {
            clock: Default::default(),
            w: (0..n).map(|_| Default::default()).collect(),
            sig: (0..n).map(|_| Default::default()).collect(),
            sh: (0..n).map(|_| Default::default()).collect(),
        }
    }
}

impl Logic for Fp16Decode {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // The bit-level model of the Verilog below (tests hold it
            // against the golden `fp16_decode`).
            for i in 0..self.w.len() {
                let w = self.w[i].val().to_u64();
                let e = w >> 10 & 0x1F;
                let m = if e == 31 {
                    0
                } else {
                    ((e != 0) as u64) << 10 | (w & 0x3FF)
                };
                let mask = (1 << SIGW) - 1;
                let sig = if w >> 15 == 1 {
                    m.wrapping_neg() & mask
                } else {
                    m
                };
                self.sig[i].next = sig.into();
                self.sh[i].next = (if e == 0 || e == 31 { 0 } else { e - 1 }).into();
            }
        }
    }

    fn connect(&mut self) {
        for (s, h) in self.sig.iter_mut().zip(&mut self.sh) {
            s.connect();
            h.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        let (mut decl, mut init, mut body) = (String::new(), String::new(), String::new());
        let m = SIGW - 1;
        for i in 0..self.w.len() {
            decl += &format!(
                "wire [4:0] e${i} = w${i}[14:10];\n\
                 wire [{m1}:0] m${i} = (e${i} == 5'd31) ? {m}'d0 : {{e${i} != 5'd0, w${i}[9:0]}};\n",
                m1 = m - 1,
            );
            init += &format!("   sig${i} = {SIGW}'h0;\n   sh${i} = {SHW}'h0;\n");
            body += &format!(
                "   sig${i} <= w${i}[15] ? -{{1'b0, m${i}}} : {{1'b0, m${i}}};\n\
                 \x20  sh${i} <= (e${i} == 5'd0 || e${i} == 5'd31) ? 5'd0 : e${i} - 5'd1;\n"
            );
        }
        Verilog::Custom(format!(
            "{decl}\ninitial begin\n{init}end\n\nalways @(posedge clock) begin\n{body}end\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::mul_bank::sext;
    use seedlm::fixed_fp16::fp16_decode;

    #[test]
    fn test_fp16_decode_synthesizes() {
        let mut uut = Fp16Decode::new(2);
        uut.connect_all();
        yosys_validate("fp16_decode", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_fp16_decode_operation() {
        let mut uut = Fp16Decode::new(2);
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<Fp16Decode>| x.clock.next = !x.clock.val());
        sim.add_testbench(move |mut sim: Sim<Fp16Decode>| {
            let mut x = sim.init()?;
            // Every pattern, two per cycle (lane 1 gets the complement).
            for w in (0..=u16::MAX).step_by(2) {
                x.w[0].next = (w as u64).into();
                x.w[1].next = (!w as u64).into();
                wait_clock_cycle!(sim, clock, x);
                for (lane, pat) in [(0, w), (1, !w)] {
                    let (sig, sh) = fp16_decode(pat);
                    sim_assert_eq!(sim, sext(x.sig[lane].val().to_u64(), SIGW), sig as i64, x);
                    sim_assert_eq!(sim, x.sh[lane].val().to_u64(), sh as u64, x);
                }
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 1_000_000).unwrap();
    }
}
