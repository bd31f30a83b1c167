//! A lane's multipliers: weight × activation, two's complement,
//! `A × 16 -> P` bits, exact (`A = RW`, `P = PW` in the SeedLM lane; the
//! f16 significand, 12 bits, and 28 bits in the FP16 baseline lane).
//!
//! Two register stages (the multiplier's M and P registers of a DSP slice),
//! so each product closes timing in one DSP48 at a few hundred MHz. Custom
//! Verilog, because rust-hdl 0.46's `Signed` multiplies only 16 × 16 bits;
//! the operands are sign-extended explicitly, which keeps the product
//! lint-clean and lets synthesis narrow it back to `A × 16`.
//!
//! Yosys maps the plain form to ECP5 MULT18X18Ds without their registers,
//! and an `A > 18` product to two of them summed in the same cycle (on the
//! ECP5 that held the engine to 90 MHz; a register on either side of a
//! combinational MULT18X18D still leaves 3.9 ns of multiplier plus the
//! routing in and out). With the Verilog macro [`ECP5_DEFINE`] set each
//! product is instead MULT18X18D primitives with their output register
//! (the M stage) and, for `A > 17`, two partial products, `a[16:0] · b`
//! (unsigned low part) and `a[A-1:17] · b` (signed high part), summed in
//! the P stage: the same latency and the same bits
//! (`hdl/tests/ecp5_prims.rs` simulates it).

use super::ECP5_DEFINE;
use rust_hdl::prelude::*;

/// Bits of the unsigned low part of a split product: 17, so that it is a
/// non-negative 18-bit signed multiplier operand.
const LOW_BITS: usize = 17;

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
        Verilog::Custom(format!(
            "`ifdef {ECP5_DEFINE}\n{}`else\n{}`endif\n",
            self.ecp5_body(),
            self.plain_body()
        ))
    }
}

/// A MULT18X18D named `name`, signed 18 x 18 -> 36 bits with its output
/// register on `clock`: `p` (a 36-bit wire) holds `a · b` one edge after
/// `a` and `b` (18 bit expressions each, LSB first).
fn mult18(name: &str, a: &[String], b: &[String], p: &str) -> String {
    let mut pins: Vec<String> = Vec::new();
    for (port, bits) in [("A", a), ("B", b)] {
        for (k, bit) in bits.iter().enumerate() {
            pins.push(format!(".{port}{k}({bit})"));
        }
    }
    for k in 0..18 {
        pins.push(format!(".C{k}(1'b0)"));
    }
    for k in 0..36 {
        pins.push(format!(".P{k}({p}[{k}])"));
    }
    format!(
        "MULT18X18D #(.REG_OUTPUT_CLK(\"CLK0\"), .REG_OUTPUT_CE(\"CE0\"), .REG_OUTPUT_RST(\"RST0\")) {name} (\n\
         \x20  .SIGNEDA(1'b1), .SIGNEDB(1'b1), .SOURCEA(1'b0), .SOURCEB(1'b0),\n\
         \x20  .CLK0(clock), .CE0(1'b1), .RST0(1'b0),\n\
         \x20  {}\n);\n",
        pins.join(", ")
    )
}

impl<const A: usize, const P: usize> MulBank<A, P> {
    /// The plain module body: one `A × 16` product per multiplier.
    fn plain_body(&self) -> String {
        let (mut decl, mut init, mut body) = (String::new(), String::new(), String::new());
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
        format!("{decl}\ninitial begin\n{init}end\n\nalways @(posedge clock) begin\n{body}end\n")
    }

    /// The ECP5 module body (module docs).
    fn ecp5_body(&self) -> String {
        let (mut cells, mut body) = (String::new(), String::new());
        // Sign-extends bits lo..=hi of `v` to an 18-bit operand.
        let operand = |v: &str, lo: usize, hi: usize| -> Vec<String> {
            (0..18)
                .map(|k| format!("{v}[{}]", (lo + k).min(hi)))
                .collect()
        };
        for i in 0..self.p.len() {
            let b = operand(&format!("b${i}"), 0, 15);
            if A > LOW_BITS {
                // lo: 17 bits unsigned (bit 17 zero) x b, 34 bits; hi: the
                // (A-17)-bit signed top x b, A-1 bits.
                let mut lo = operand(&format!("a${i}"), 0, LOW_BITS - 1);
                lo[LOW_BITS] = "1'b0".into();
                let hi = operand(&format!("a${i}"), LOW_BITS, A - 1);
                let (lw, hw) = (LOW_BITS + 17, A - LOW_BITS + 16);
                cells += &format!("wire [35:0] pl${i}, ph${i};\n");
                cells += &mult18(&format!("mlo${i}"), &lo, &b, &format!("pl${i}"));
                cells += &mult18(&format!("mhi${i}"), &hi, &b, &format!("ph${i}"));
                body += &format!(
                    "   p${i} <= {{{{{eh}{{ph${i}[{h}]}}}}, ph${i}[{h}:0], {LOW_BITS}'b0}} \
                     + {{{{{el}{{pl${i}[{l}]}}}}, pl${i}[{l}:0]}};\n",
                    h = hw - 1,
                    l = lw - 1,
                    eh = P - hw - LOW_BITS,
                    el = P - lw,
                );
            } else {
                let a = operand(&format!("a${i}"), 0, A - 1);
                cells += &format!("wire [35:0] pl${i};\n");
                cells += &mult18(&format!("m${i}"), &a, &b, &format!("pl${i}"));
                body += &format!(
                    "   p${i} <= {{{{{e}{{pl${i}[{t}]}}}}, pl${i}[{t}:0]}};\n",
                    t = A + 15,
                    e = P - A - 16
                );
            }
        }
        format!("{cells}\nalways @(posedge clock) begin\n{body}end\n")
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
