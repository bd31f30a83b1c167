//! Tensors far outside the 4-bit exponent range compress through the
//! per-tensor exponent offset: the relative error and the file version.

mod common;

use std::ffi::OsStr;

use common::{ok, seedlm, stderr, write_f32_safetensors};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use seedlm::container::{SeedFile, VERSION, VERSION_MIN};

/// The relative error column of `seedlm error`'s row for `name`.
fn rel_error(table: &str, name: &str) -> f64 {
    let l = table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name} in {table}"));
    l.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn test_cli_tiny_and_huge_tensors_keep_their_relative_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let base: Vec<f32> = (0..16 * 64)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    let scaled = |s: f32| base.iter().map(|x| x * s).collect::<Vec<f32>>();
    let tensors = [
        ("unit.weight", scaled(0.05)),
        ("milli.weight", scaled(1e-3)),
        ("tiny.weight", scaled(1e-30)),
        ("huge.weight", scaled(f32::MAX / 64.0)),
    ];
    let specs: Vec<(&str, Vec<usize>, Vec<f32>)> = tensors
        .iter()
        .map(|(n, v)| (*n, vec![16, 64], v.clone()))
        .collect();
    let input = dir.path().join("m.safetensors");
    write_f32_safetensors(&input, &specs);
    let out = dir.path().join("m.seedlm");
    let o = seedlm([
        OsStr::new("compress"),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--bits".as_ref(),
        "4".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
    ]);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    ok(o);
    let f = SeedFile::open(&out).unwrap();
    assert_eq!(f.version(), VERSION);
    let offsets: Vec<i16> = tensors
        .iter()
        .map(|(n, _)| f.get(n).unwrap().exp_offset)
        .collect();
    assert_eq!(offsets[0], 0);
    assert!(offsets[1..].iter().all(|&o| o != 0), "{offsets:?}");
    let table = ok(seedlm([
        OsStr::new("error"),
        input.as_os_str(),
        out.as_os_str(),
    ]));
    let unit = rel_error(&table, "unit.weight");
    assert!(unit > 0.05 && unit < 0.2, "{table}");
    for (name, _) in &tensors[1..] {
        let e = rel_error(&table, name);
        assert!(
            (e - unit).abs() < 0.03,
            "{name}: {e} against {unit}\n{table}"
        );
    }

    // Only the in-range tensor: no offset, a version-1 file.
    write_f32_safetensors(&input, &specs[..1]);
    let out1 = dir.path().join("v1.seedlm");
    ok(seedlm([
        OsStr::new("compress"),
        input.as_os_str(),
        "-o".as_ref(),
        out1.as_os_str(),
        "--bits".as_ref(),
        "4".as_ref(),
    ]));
    assert_eq!(SeedFile::open(&out1).unwrap().version(), VERSION_MIN);
}
