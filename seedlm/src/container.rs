//! The `.seedlm` container (being written).
