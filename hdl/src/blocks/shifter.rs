//! Shifter: a `D`-bit two's-complement value, sign-extended to the
//! accumulator width and shifted left by an `S`-bit amount, registered.
//! The SeedLM lane shifts its lane sum by `e + 8`
//! ([`seedlm::fixed::EXP_BIAS`]); the FP16 lane shifts each product by its
//! weight's exponent ([`seedlm::fixed_fp16`]).
//!
//! Custom Verilog: rust-hdl 0.46's `bit_cast` widens by AND-ing with a mask
//! of the target width, which Verilator's `-Wall` flags as a width
//! mismatch, and `#[hdl_gen]` has no concatenation for a sign extension.

use super::mul_bank::sext;
use super::widths::AW;
use rust_hdl::prelude::*;

/// `term = sext(d) << shift`, one cycle later; exact because
/// `D + 2^S - 1 <= AW` (checked when the Verilog is emitted).
#[derive(LogicBlock, Default)]
pub struct Shifter<const D: usize, const S: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Value, `D`-bit two's complement.
    pub d: Signal<In, Bits<D>>,
    /// Shift, `0..2^S`.
    pub shift: Signal<In, Bits<S>>,
    /// Shifted term, `AW`-bit two's complement.
    pub term: Signal<Out, Bits<AW>>,
}

impl<const D: usize, const S: usize> Logic for Shifter<D, S> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let v = (sext(self.d.val().to_u64(), D) as i128) << self.shift.val().to_u64();
            let v = v as u128;
            let lo: Bits<AW> = ((v as u64) as u128 as u64).into();
            let hi: Bits<AW> = ((v >> 64) as u64 & 0xFF).into();
            self.term.next = lo | (hi << 64u64);
        }
    }

    fn connect(&mut self) {
        self.term.connect();
    }

    fn hdl(&self) -> Verilog {
        assert!(
            D + (1 << S) - 1 <= AW,
            "Shifter<{D}, {S}> overflows {AW} bits"
        );
        Verilog::Custom(format!(
            "initial begin\n   term = {AW}'h0;\nend\n\n\
             always @(posedge clock) begin\n   term <= {{{{{e}{{d[{top}]}}}}, d}} << shift;\nend\n",
            e = AW - D,
            top = D - 1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::widths::PW;

    type LaneShifter = Shifter<PW, 4>;

    fn value(x: Bits<AW>) -> i128 {
        let lo = x.get_bits::<64>(0).to_u64() as u128;
        let hi = x.get_bits::<8>(64).to_u64() as u128;
        (((lo | hi << 64) << (128 - AW)) as i128) >> (128 - AW)
    }

    #[test]
    fn test_shifter_synthesizes() {
        let mut uut = LaneShifter::default();
        uut.connect_all();
        yosys_validate("shifter", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_shifter_operation() {
        let mut uut = LaneShifter::default();
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<LaneShifter>| x.clock.next = !x.clock.val());
        sim.add_testbench(move |mut sim: Sim<LaneShifter>| {
            let mut x = sim.init()?;
            let max = (1i64 << (PW - 1)) - 1;
            for (d, s) in [
                (max, 15u64),
                (-max - 1, 15),
                (-1, 0),
                (-1, 7),
                (12345, 3),
                (0, 9),
            ] {
                x.d.next = ((d as u64) & ((1 << PW) - 1)).into();
                x.shift.next = s.into();
                wait_clock_cycle!(sim, clock, x);
                sim_assert_eq!(sim, value(x.term.val()), (d as i128) << s, x);
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 10_000).unwrap();
    }
}
