//! The `seedlm` command-line tool.
fn main() {}
