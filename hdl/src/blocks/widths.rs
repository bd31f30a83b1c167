//! Datapath widths that several blocks share, defined once here (each block
//! imports them; none imports another block for a width).

use seedlm::fixed::ACC_BITS;

/// Accumulator width, [`ACC_BITS`] (72 bits): the lane accumulators, the
/// shifted terms and the engine's result word.
pub const AW: usize = ACC_BITS as usize;

/// Width of a product and of the lane sum (40 bits, the 3-bit configuration's
/// lane sum width; the lane asserts it against [`seedlm::fixed::lane_sum_bits`]).
pub const PW: usize = 40;

/// Width of a rebuilt weight (21 bits for both paper configurations).
pub const RW: usize = 21;
