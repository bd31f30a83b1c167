//! A bank of registers, `q[i] <= d[i]` on every rising clock edge.
//!
//! rust-hdl's `DFF` emits one Verilog module per register; the datapath has
//! hundreds of registers per lane, so its pipeline stages use one `Pipe`
//! per stage instead (one module, one `always` block).

use rust_hdl::prelude::*;

/// `n` registers of type `T`, reset-free (initialised to zero).
#[derive(LogicBlock)]
pub struct Pipe<T: Synth> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Next values.
    pub d: Vec<Signal<In, T>>,
    /// Registered values, one cycle after `d`.
    pub q: Vec<Signal<Out, T>>,
}

impl<T: Synth> Pipe<T> {
    /// A bank of `n >= 1` registers.
    pub fn new(n: usize) -> Self {
        assert!(n >= 1, "a Pipe needs at least one register");
        Self {
            clock: Default::default(),
            d: (0..n).map(|_| Default::default()).collect(),
            q: (0..n).map(|_| Default::default()).collect(),
        }
    }
}

impl<T: Synth> Logic for Pipe<T> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            for (q, d) in self.q.iter_mut().zip(&self.d) {
                q.next = d.val();
            }
        }
    }

    fn connect(&mut self) {
        for q in &mut self.q {
            q.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        let zero = format!("{:x}", T::default().verilog());
        let n = self.q.len();
        let init: String = (0..n).map(|i| format!("   q${i} = {zero};\n")).collect();
        let body: String = (0..n).map(|i| format!("   q${i} <= d${i};\n")).collect();
        Verilog::Custom(format!(
            "initial begin\n{init}end\n\nalways @(posedge clock) begin\n{body}end\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pipe_synthesizes() {
        let mut uut = Pipe::<Bits<8>>::new(3);
        uut.connect_all();
        yosys_validate("pipe", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn test_pipe_operation() {
        let mut uut = Pipe::<Bits<8>>::new(2);
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<Pipe<Bits<8>>>| {
            x.clock.next = !x.clock.val()
        });
        sim.add_testbench(move |mut sim: Sim<Pipe<Bits<8>>>| {
            let mut x = sim.init()?;
            for k in 0..20u64 {
                x.d[0].next = k.into();
                x.d[1].next = (k * 3).into();
                wait_clock_cycle!(sim, clock, x);
                sim_assert_eq!(sim, x.q[0].val(), k, x);
                sim_assert_eq!(sim, x.q[1].val(), k * 3, x);
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 1000).unwrap();
    }
}
