//! A lane's multipliers: weight × activation, two's complement,
//! `A × 16 -> P` bits, exact (`A = RW`, `P = PW` in the SeedLM lane; the
//! f16 significand, 12 bits, and 28 bits in the FP16 baseline lane).
//!
//! Two register stages (the multiplier's M and P registers of a DSP slice),
//! so each product closes timing in one DSP48 at a few hundred MHz. Custom
//! Verilog, because rust-hdl 0.46's `Signed` multiplies only 16 × 16 bits;
//! the operands are sign-extended explicitly, which keeps the product
//! lint-clean and lets synthesis narrow it back to `A × 16`.

use rust_hdl::prelude::*;

/// `p[i] = a[i] · b[i]`, two cycles later; `A`-bit weights, `P`-bit
/// products (`P >= A + 16` keeps every product exact).
#[derive(LogicBlock)]
pub struct MulBank<const A: usize, const P: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Weights, `A`-bit two's complement.
    pub a: Vec<Signal<In, Bits<A>>>,
    /// Activations, 16-bit two's complement.
    pub b: Vec<Signal<In, Bits<16>>>,
    /// Products, `P`-bit two's complement.
    pub p: Vec<Signal<Out, Bits<P>>>,
    _m: Vec<Bits<P>>,
}

impl<const A: usize, const P: usize> MulBank<A, P> {
    /// `n` multipliers.
    pub fn new(n: usize) -> Self {
        assert!(
            P >= A + 16 && P <= 64,
            "MulBank<{A}, {P}>: products must be exact"
        );
        Self {
            clock: Default::default(),
            a: (0..n).map(|_| Default::default()).collect(),
            b: (0..n).map(|_| Default::default()).collect(),
            p: (0..n).map(|_| Default::default()).collect(),
            _m: vec![Bits::default(); n],
        }
    }
}

/// Sign-extends the low `bits` of `x` to `i64`.
pub(crate) fn sext(x: u64, bits: usize) -> i64 {
    ((x << (64 - bits)) as i64) >> (64 - bits)
}

impl<const A: usize, const P: usize> Logic for MulBank<A, P> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            for i in 0..self.p.len() {
                self.p[i].next = self._m[i];
                let prod = sext(self.a[i].val().to_u64(), A) * sext(self.b[i].val().to_u64(), 16);
                self._m[i] = ((prod as u64) & (u64::MAX >> (64 - P))).into();
            }
        }
    }

    fn connect(&mut self) {
        for p in &mut self.p {
            p.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        let mut decl = String::new();
        let mut init = String::new();
        let mut body = String::new();
        for i in 0..self.p.len() {
            decl += &format!(
                "wire signed [{w}:0] ax${i} = {{{{{ea}{{a${i}[{ra}]}}}}, a${i}}};\n\
                 wire signed [{w}:0] bx${i} = {{{{{eb}{{b${i}[15]}}}}, b${i}}};\n\
                 reg signed [{w}:0] m${i};\n",
                w = P - 1,
                ea = P - A,
                ra = A - 1,
                eb = P - 16,
            );
            init += &format!("   m${i} = {P}'h0;\n   p${i} = {P}'h0;\n");
            body += &format!("   m${i} <= ax${i} * bx${i};\n   p${i} <= m${i};\n");
        }
        Verilog::Custom(format!(
            "{decl}\ninitial begin\n{init}end\n\nalways @(posedge clock) begin\n{body}end\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::widths::{PW, RW};

    type Bank = MulBank<RW, PW>;

    #[test]
    fn test_mul_bank_synthesizes() {
        let mut uut = Bank::new(2);
        uut.connect_all();
        yosys_validate("mul_bank", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_mul_bank_operation() {
        let mut uut = Bank::new(2);
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<Bank>| x.clock.next = !x.clock.val());
        sim.add_testbench(move |mut sim: Sim<Bank>| {
            let mut x = sim.init()?;
            let cases: [(i64, i64); 6] = [
                (-(1 << 20), -32768),
                ((1 << 20) - 1, 32767),
                (-1, 1),
                (12345, -2),
                (0, 77),
                (-786408, -32767),
            ];
            for (k, &(a, b)) in cases.iter().enumerate() {
                x.a[0].next = ((a as u64) & ((1 << RW) - 1)).into();
                x.b[0].next = ((b as u64) & 0xFFFF).into();
                x.a[1].next = ((b as u64) & ((1 << RW) - 1)).into();
                x.b[1].next = ((a as u64) & 0xFFFF).into();
                wait_clock_cycle!(sim, clock, x);
                if k >= 1 {
                    let (pa, pb) = cases[k - 1];
                    sim_assert_eq!(sim, sext(x.p[0].val().to_u64(), PW), pa * pb, x);
                    let swapped = sext(pb as u64, RW) * sext(pa as u64, 16);
                    sim_assert_eq!(sim, sext(x.p[1].val().to_u64(), PW), swapped, x);
                }
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 10_000).unwrap();
    }
}
