//! Linear layers that share their input run as one call: `q`, `k` and `v`
//! read the attention norm's output, `gate` and `up` the MLP norm's, so
//! their weights stacked by rows (`[Wq; Wk; Wv]`, `[Wgate; Wup]`) make one
//! mat-vec, one device job, instead of three and two: four calls per block
//! instead of seven ([`CALLS`], which the board model counts too:
//! [`crate::perf::shapes::ModelShape::calls`]).
//!
//! Every row of a stacked layer is computed as it would be alone (the
//! same blocks, the same activations, the same per-vector activation scale
//! on a device), so the results are the separate layers' bit for bit. A
//! SeedLM tensor's exponent offset ([`seedlm::magnitude`]) is per tensor
//! and the device job has no field for it: the stacked layer runs without
//! offsets and [`Fused`] scales each tensor's row range of the results by
//! its own `2^offset` on the host, as [`super::backend::Scaled`] does for
//! a layer alone.

use super::weights::{LinearBuilder, StoredLinear};
use crate::error::{Error, Result};
use crate::linear::{check_batch, Linear};

/// The linear layers of one decoder block that share the attention input.
pub const QKV: &[&str] = &["q", "k", "v"];

/// The linear layers of one decoder block that share the MLP input.
pub const GATE_UP: &[&str] = &["gate", "up"];

/// The calls of one decoder block in the order the forward pass makes
/// them: a name and the linear layers ([`super::weights::LINEARS`]) whose
/// rows it stacks.
pub const CALLS: [(&str, &[&str]); 4] = [
    ("qkv", QKV),
    ("o", &["o"]),
    ("gate_up", GATE_UP),
    ("down", &["down"]),
];

/// How [`Fused::build`] builds the layers of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stacking {
    /// Stacked by rows and built once under their names joined by `+`,
    /// when they are stored alike (all float, or all SeedLM blocks of one
    /// configuration); one by one otherwise.
    Stacked,
    /// One by one under their own names (for builders that treat each
    /// layer by its name: calibration, evaluation's quantizers).
    Separate,
}

/// One layer of a [`Fused`]: rows `row0..row0 + rows` of call `call`'s
/// results, times `2^offset`.
struct Part {
    call: usize,
    row0: usize,
    rows: usize,
    offset: i16,
}

/// Linear layers over one input, `y_i = W_i x`, run as few calls as
/// their storage allows.
pub struct Fused {
    cols: usize,
    calls: Vec<Box<dyn Linear>>,
    parts: Vec<Part>,
}

/// `parts` stacked by rows into one stored layer, with each part's
/// exponent offset (left for its rows of the results), or `parts` back
/// when they are not stored alike.
fn stack(
    parts: Vec<StoredLinear>,
) -> std::result::Result<(StoredLinear, Vec<i16>), Vec<StoredLinear>> {
    let alike = parts.windows(2).all(|p| match (&p[0], &p[1]) {
        (StoredLinear::Dense { cols: a, .. }, StoredLinear::Dense { cols: b, .. }) => a == b,
        (
            StoredLinear::Seed {
                cols: a, cfg: ca, ..
            },
            StoredLinear::Seed {
                cols: b, cfg: cb, ..
            },
        ) => a == b && ca == cb,
        _ => false,
    });
    if !alike || parts.is_empty() {
        return Err(parts);
    }
    let mut offsets = Vec::with_capacity(parts.len());
    let mut it = parts.into_iter();
    let mut acc = it.next().expect("not empty");
    if let StoredLinear::Seed { exp_offset, .. } = &mut acc {
        offsets.push(std::mem::take(exp_offset));
    } else {
        offsets.push(0);
    }
    for p in it {
        match (&mut acc, p) {
            (StoredLinear::Dense { rows, w, .. }, StoredLinear::Dense { rows: r, w: pw, .. }) => {
                *rows += r;
                w.extend_from_slice(&pw);
                offsets.push(0);
            }
            (
                StoredLinear::Seed { rows, blocks, .. },
                StoredLinear::Seed {
                    rows: r,
                    blocks: pb,
                    exp_offset,
                    ..
                },
            ) => {
                *rows += r;
                blocks.extend_from_slice(&pb);
                offsets.push(exp_offset);
            }
            _ => unreachable!("checked alike"),
        }
    }
    Ok((acc, offsets))
}

/// Rows of a stored layer.
fn stored_rows(s: &StoredLinear) -> usize {
    match s {
        StoredLinear::Dense { rows, .. } | StoredLinear::Seed { rows, .. } => *rows,
    }
}

impl Fused {
    /// One call per layer; the layers must share their columns.
    pub fn separate(layers: Vec<Box<dyn Linear>>) -> Result<Fused> {
        let Some(cols) = layers.first().map(|l| l.cols()) else {
            return Err(Error::Invalid("a fused call of no layers".into()));
        };
        if layers.iter().any(|l| l.cols() != cols) {
            return Err(Error::Invalid(
                "layers of one fused call must share their input".into(),
            ));
        }
        let parts = layers
            .iter()
            .enumerate()
            .map(|(call, l)| Part {
                call,
                row0: 0,
                rows: l.rows(),
                offset: 0,
            })
            .collect();
        Ok(Fused {
            cols,
            calls: layers,
            parts,
        })
    }

    /// The layers `names`, stored as `stored` (same order), built by
    /// `build` as `stacking` says.
    pub fn build(
        names: &[String],
        stored: Vec<StoredLinear>,
        build: &LinearBuilder<'_>,
        stacking: Stacking,
    ) -> Result<Fused> {
        let one_by_one = |stored: Vec<StoredLinear>| {
            let layers = names
                .iter()
                .zip(stored)
                .map(|(n, s)| build(n, s))
                .collect::<Result<Vec<_>>>()?;
            Fused::separate(layers)
        };
        if stacking == Stacking::Separate {
            return one_by_one(stored);
        }
        let rows: Vec<usize> = stored.iter().map(stored_rows).collect();
        let (stacked, offsets) = match stack(stored) {
            Ok(s) => s,
            Err(stored) => return one_by_one(stored),
        };
        let call = build(&names.join("+"), stacked)?;
        let mut row0 = 0;
        let parts = rows
            .iter()
            .zip(offsets)
            .map(|(&rows, offset)| {
                row0 += rows;
                Part {
                    call: 0,
                    row0: row0 - rows,
                    rows,
                    offset,
                }
            })
            .collect();
        Ok(Fused {
            cols: call.cols(),
            calls: vec![call],
            parts,
        })
    }

    /// Calls per forward pass (1 when stacked).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Input length.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of weights read by one vector through all layers.
    pub fn weight_bytes(&self) -> usize {
        self.calls.iter().map(|c| c.weight_bytes()).sum()
    }

    /// `Y_i = X W_iᵀ` for every layer `i` on `n` vectors: `x` is
    /// `n × cols`, `outs[i]` is `n × rows_i`, all row-major.
    pub fn forward_split(&self, x: &[f32], n: usize, outs: &mut [&mut [f32]]) -> Result<()> {
        if outs.len() != self.parts.len() {
            return Err(Error::Invalid(format!(
                "a fused call of {} layers given {} outputs",
                self.parts.len(),
                outs.len()
            )));
        }
        for (p, o) in self.parts.iter().zip(outs.iter()) {
            check_batch(p.rows, self.cols, x, n, o)?;
        }
        for (c, call) in self.calls.iter().enumerate() {
            let rows = call.rows();
            let mine: Vec<usize> = (0..self.parts.len())
                .filter(|&i| self.parts[i].call == c)
                .collect();
            if let [i] = mine[..] {
                if self.parts[i].rows == rows {
                    // The call is one layer: straight into its output.
                    call.forward_batch(x, n, outs[i])?;
                    seedlm::magnitude::scale_up(outs[i], self.parts[i].offset);
                    continue;
                }
            }
            let mut y = vec![0f32; n * rows];
            call.forward_batch(x, n, &mut y)?;
            for i in mine {
                let p = &self.parts[i];
                for (o, yr) in outs[i].chunks_exact_mut(p.rows).zip(y.chunks_exact(rows)) {
                    o.copy_from_slice(&yr[p.row0..p.row0 + p.rows]);
                }
                seedlm::magnitude::scale_up(outs[i], p.offset);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::backend::{Backend, LayerFactory};

    fn dense(rows: usize, cols: usize, v: f32) -> StoredLinear {
        StoredLinear::Dense {
            rows,
            cols,
            w: (0..rows * cols).map(|i| v + i as f32).collect(),
        }
    }

    /// Layers stored alike make one call; a float layer next to SeedLM
    /// blocks, or layers of other widths, make one call each; both give
    /// each layer its rows.
    #[test]
    fn test_stacks_only_layers_stored_alike() {
        let f = LayerFactory::new(Backend::Dense);
        let build = |n: &str, s| f.build(n, s);
        let names: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let seed = StoredLinear::Seed {
            rows: 2,
            cols: 8,
            cfg: seedlm::Config::BITS4,
            blocks: vec![seedlm::Block::default(); 2],
            exp_offset: 1,
        };
        let x = [1.0f32; 8];
        for (parts, calls) in [
            (vec![dense(3, 8, 0.0), dense(2, 8, 1.0)], 1),
            (vec![dense(3, 8, 0.0), seed], 2),
        ] {
            let fu = Fused::build(&names, parts, &build, Stacking::Stacked).unwrap();
            assert_eq!((fu.calls(), fu.cols()), (calls, 8));
            let (mut a, mut b) = ([0f32; 3], [0f32; 2]);
            fu.forward_split(&x, 1, &mut [&mut a, &mut b]).unwrap();
            // Row r of the first layer: sum of r*8 .. r*8+7.
            assert_eq!(a, [28.0, 92.0, 156.0]);
            assert!(fu.forward_split(&x, 1, &mut [&mut a]).is_err());
            assert!(fu.forward_split(&x, 1, &mut [&mut b, &mut a]).is_err());
        }
        let wide = vec![dense(3, 8, 0.0), dense(2, 4, 1.0)];
        assert!(Fused::build(&names, wide, &build, Stacking::Stacked).is_err());
        assert!(Fused::separate(Vec::new()).is_err());
    }
}
