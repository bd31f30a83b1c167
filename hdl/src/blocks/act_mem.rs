//! The activation memory: `2^N` words of `W` bits, one write port (the
//! host's activations), one read port with two register stages: the block
//! RAM's read register and its output register.
//!
//! The output register keeps the RAM's clock-to-output out of every path
//! into the lanes (on the ECP5 a DP16KD without it needs 5.8 ns, most of a
//! 150 MHz cycle, before any routing). Synthesis maps the plain form to
//! block RAM and absorbs the output register where the tool can (Vivado);
//! Yosys does not absorb it into an ECP5 DP16KD, so with the Verilog macro
//! [`ECP5_DEFINE`] set the module instantiates `W / 4` DP16KDs in
//! their 4096 x 4 configuration with `REGMODE_B = "OUTREG"`: the same two
//! stages, no depth multiplexer behind the RAMs. Custom Verilog, because
//! rust-hdl's `RAM` has one read register only.

use super::ECP5_DEFINE;
use rust_hdl::prelude::*;

/// Address bits of a DP16KD in its 4096 x 4 configuration.
const EBR_ADDR_BITS: usize = 12;

/// Data bits of a DP16KD in that configuration.
const EBR_BITS: usize = 4;

/// `read_data` = the word at `read_address` two clock edges earlier;
/// writes land on the edge after `write_enable`.
#[derive(LogicBlock)]
pub struct ActMem<const W: usize, const N: usize> {
    /// Clock of both ports.
    pub clock: Signal<In, Clock>,
    /// Write enable.
    pub write_enable: Signal<In, Bit>,
    /// Word address of the write.
    pub write_address: Signal<In, Bits<N>>,
    /// Word written.
    pub write_data: Signal<In, Bits<W>>,
    /// Word address of the read.
    pub read_address: Signal<In, Bits<N>>,
    /// The word read, two edges after its address.
    pub read_data: Signal<Out, Bits<W>>,
    _mem: Vec<Bits<W>>,
    _q1: Bits<W>,
}

impl<const W: usize, const N: usize> Default for ActMem<W, N> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            _mem: vec![Bits::default(); 1 << N],
            _q1: Bits::default(),
        }
    }
}

impl<const W: usize, const N: usize> Logic for ActMem<W, N> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.read_data.next = self._q1;
            self._q1 = self._mem[self.read_address.val().index()];
            if self.write_enable.val() {
                self._mem[self.write_address.val().index()] = self.write_data.val();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let plain = format!(
            "reg [{w}:0] mem [0:{d}];\nreg [{w}:0] q1;\n\n\
             always @(posedge clock) begin\n\
             \x20  if (write_enable) mem[write_address] <= write_data;\n\
             \x20  q1 <= mem[read_address];\n\
             \x20  read_data <= q1;\n\
             end\n",
            w = W - 1,
            d = (1usize << N) - 1
        );
        if N != EBR_ADDR_BITS || !W.is_multiple_of(EBR_BITS) {
            return Verilog::Custom(plain);
        }
        Verilog::Custom(format!(
            "`ifdef {ECP5_DEFINE}\n{}`else\n{plain}`endif\n",
            ecp5_body(W / EBR_BITS)
        ))
    }
}

/// `n` DP16KDs side by side, each 4096 x 4, port A writing, port B
/// reading through its output register.
fn ecp5_body(n: usize) -> String {
    let mut pins = Vec::new();
    let pin = |pins: &mut Vec<String>, name: String, net: String| {
        pins.push(format!("      .{name}({net})"));
    };
    for p in ["A", "B"] {
        pin(&mut pins, format!("CLK{p}"), "clock".into());
        pin(&mut pins, format!("CE{p}"), "1'b1".into());
        pin(&mut pins, format!("OCE{p}"), "1'b1".into());
        pin(&mut pins, format!("RST{p}"), "1'b0".into());
        for c in 0..3 {
            pin(&mut pins, format!("CS{p}{c}"), "1'b0".into());
        }
        // 4096 x 4: word address on AD13..AD2 (memory_libmap's convention).
        let addr = if p == "A" {
            "write_address"
        } else {
            "read_address"
        };
        for b in 0..14 {
            let net = if b < 2 {
                "1'b0".to_string()
            } else {
                format!("{addr}[{}]", b - 2)
            };
            pin(&mut pins, format!("AD{p}{b}"), net);
        }
        for b in 0..18 {
            let net = match (p, b < EBR_BITS) {
                ("A", true) => format!("write_data[{EBR_BITS} * g + {b}]"),
                _ => "1'b0".to_string(),
            };
            pin(&mut pins, format!("DI{p}{b}"), net);
        }
    }
    pin(&mut pins, "WEA".into(), "write_enable".into());
    pin(&mut pins, "WEB".into(), "1'b0".into());
    for b in 0..18 {
        let net = if b < EBR_BITS {
            format!("dob[{b}]")
        } else {
            String::new()
        };
        pin(&mut pins, format!("DOB{b}"), net);
    }
    format!(
        "genvar g;\n\
         generate for (g = 0; g < {n}; g = g + 1) begin : ebr\n\
         \x20  wire [{top}:0] dob;\n\
         \x20  DP16KD #(\n\
         \x20     .DATA_WIDTH_A({EBR_BITS}), .DATA_WIDTH_B({EBR_BITS}),\n\
         \x20     .REGMODE_A(\"NOREG\"), .REGMODE_B(\"OUTREG\"),\n\
         \x20     .RESETMODE(\"SYNC\"), .ASYNC_RESET_RELEASE(\"SYNC\"),\n\
         \x20     .CSDECODE_A(\"0b000\"), .CSDECODE_B(\"0b000\"),\n\
         \x20     .WRITEMODE_A(\"NORMAL\"), .WRITEMODE_B(\"NORMAL\"), .GSR(\"AUTO\")\n\
         \x20  ) ram (\n{}\n   );\n\
         \x20  always @(*) read_data[{EBR_BITS} * g +: {EBR_BITS}] = dob;\n\
         end endgenerate\n",
        pins.join(",\n"),
        top = EBR_BITS - 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_act_mem_synthesizes() {
        let mut uut = ActMem::<128, 12>::default();
        uut.connect_all();
        yosys_validate("act_mem", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_act_mem_reads_two_edges_later() {
        let mut uut = ActMem::<128, 12>::default();
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<ActMem<128, 12>>| {
            x.clock.next = !x.clock.val()
        });
        sim.add_testbench(move |mut sim: Sim<ActMem<128, 12>>| {
            let mut x = sim.init()?;
            let word = |a: u64| -> Bits<128> { (a.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1).into() };
            for a in [0u64, 1, 4095, 77] {
                x.write_enable.next = true;
                x.write_address.next = a.into();
                x.write_data.next = word(a);
                wait_clock_cycle!(sim, clock, x);
            }
            x.write_enable.next = false;
            let reads = [77u64, 0, 4095, 1, 77];
            for (k, &a) in reads.iter().enumerate() {
                x.read_address.next = a.into();
                wait_clock_cycle!(sim, clock, x);
                if k >= 1 {
                    sim_assert_eq!(sim, x.read_data.val(), word(reads[k - 1]), x);
                }
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 10_000).unwrap();
    }
}
