//! Pipelined adder tree: the sum of `n` `W`-bit values, one register per
//! tree level (`T = log2(next_pow2(n))` cycles), modulo `2^W`.
//!
//! Heap-ordered: node `k` (0 = root) adds nodes `2k+1` and `2k+2`; nodes
//! `L-1 .. 2L-2` (`L = next_pow2(n)`) are the inputs, zero past `n`. Each
//! stage is one `W`-bit two-input add, so it closes timing at a few hundred
//! MHz for the widths used here (40 and 72 bits).

use super::pipe::Pipe;
use rust_hdl::prelude::*;

/// Adder-tree levels (pipeline stages) for `n` inputs.
pub fn tree_levels(n: usize) -> usize {
    n.next_power_of_two().trailing_zeros() as usize
}

/// `sum = Σ x[i]` (mod `2^W`), [`tree_levels`] cycles after `x`.
#[derive(LogicBlock)]
pub struct AdderTree<const W: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Addends, `W`-bit two's complement.
    pub x: Vec<Signal<In, Bits<W>>>,
    /// Registered sum.
    pub sum: Signal<Out, Bits<W>>,
    leaf: Vec<Signal<Local, Bits<W>>>,
    tree: Pipe<Bits<W>>,
    pad: Vec<Constant<Bits<W>>>,
    _leaves: usize,
}

impl<const W: usize> AdderTree<W> {
    /// A tree of `n >= 2` inputs.
    pub fn new(n: usize) -> Self {
        assert!(n >= 2, "an adder tree needs at least 2 inputs");
        let leaves = n.next_power_of_two();
        Self {
            clock: Default::default(),
            x: (0..n).map(|_| Default::default()).collect(),
            sum: Default::default(),
            leaf: (0..2 * leaves - 2).map(|_| Default::default()).collect(),
            tree: Pipe::new(leaves - 1),
            pad: (n..leaves).map(|_| Constant::new(0.into())).collect(),
            _leaves: leaves,
        }
    }
}

impl<const W: usize> Logic for AdderTree<W> {
    #[hdl_gen]
    fn update(&mut self) {
        self.tree.clock.next = self.clock.val();
        // `leaf[n - 1]` holds node n: inner nodes from the registers, then
        // the inputs, then zero padding.
        for ll in self._leaves..(self._leaves + 1) {
            for k in 1..(self._leaves - 1) {
                self.leaf[k - 1].next = self.tree.q[k].val();
            }
            for i in 0..self.x.len() {
                self.leaf[ll - 2 + i].next = self.x[i].val();
            }
            for n in self.x.len()..(self.x.len() + 1) {
                for i in self.x.len()..self._leaves {
                    self.leaf[ll - 2 + i].next = self.pad[i - n].val();
                }
            }
            for k in 0..(self._leaves - 1) {
                self.tree.d[k].next = self.leaf[2 * k].val() + self.leaf[2 * k + 1].val();
            }
        }
        self.sum.next = self.tree.q[0].val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn test_adder_tree_synthesizes() {
        let mut uut = AdderTree::<40>::new(5);
        uut.connect_all();
        yosys_validate("adder_tree", &generate_verilog(&uut)).unwrap();
    }

    fn run(n: usize) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
        let mask = (1u64 << 40) - 1;
        let inputs: Vec<Vec<u64>> = (0..30)
            .map(|_| (0..n).map(|_| rng.gen::<u64>() & mask).collect())
            .collect();
        let t = tree_levels(n);
        let mut uut = AdderTree::<40>::new(n);
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<AdderTree<40>>| {
            x.clock.next = !x.clock.val()
        });
        sim.add_testbench(move |mut sim: Sim<AdderTree<40>>| {
            let mut x = sim.init()?;
            for k in 0..inputs.len() + t {
                if k < inputs.len() {
                    for (i, &v) in inputs[k].iter().enumerate() {
                        x.x[i].next = v.into();
                    }
                }
                wait_clock_cycle!(sim, clock, x);
                // After this edge the sum of the inputs of cycle k + 1 - t
                // is on `sum`.
                if k + 1 >= t && k + 1 - t < inputs.len() {
                    let want = inputs[k + 1 - t]
                        .iter()
                        .fold(0u64, |a, &v| a.wrapping_add(v))
                        & mask;
                    sim_assert_eq!(sim, x.sum.val().to_u64(), want, x);
                }
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 100_000).unwrap();
    }

    #[test]
    fn test_adder_tree_operation() {
        run(2);
        run(5);
        run(8);
        run(12);
    }
}
