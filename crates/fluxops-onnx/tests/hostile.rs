//! Damaged and hostile files: reading them must end in a value or an error, never a panic, and
//! whatever is read must evaluate without one.

use std::path::Path;

use fluxops_onnx::{Ensemble, Error};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

/// A small deterministic generator (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn read_and_evaluate(bytes: &[u8]) {
    if let Ok(ensemble) = Ensemble::from_onnx(bytes, 1 << 20) {
        for value in [0.0, -1e30, 1e30, f64::NAN] {
            // The feature count of a damaged file can be anything; only sane ones are evaluated.
            if ensemble.n_features() <= 4096 {
                let _ = ensemble.evaluate(&vec![value; ensemble.n_features()]);
            }
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let mut random = Lcg(12);
    for name in [
        "handmade_modes_missing.onnx",
        "lgbm_binary.onnx",
        "rf_regressor_v5.onnx",
        "rf_multiclass_double.onnx",
    ] {
        let original = fixture(name);
        for _ in 0..400 {
            let mut bytes = original.clone();
            for _ in 0..=random.below(4) {
                let at = random.below(bytes.len());
                bytes[at] = random.next() as u8;
            }
            read_and_evaluate(&bytes);
        }
    }
}

#[test]
fn truncated_files_are_refused_without_panicking() {
    let original = fixture("gb_multiclass.onnx");
    for length in (0..original.len()).step_by(97) {
        read_and_evaluate(&original[..length]);
    }
    assert!(
        matches!(Ensemble::from_onnx(&[], 16), Err(Error::Invalid { .. })),
        "an empty file has no graph"
    );
}

#[test]
fn a_file_over_the_cap_is_refused_by_size() {
    let bytes = fixture("rf_binary.onnx");
    let error = Ensemble::from_onnx(&bytes, bytes.len() - 1).expect_err("over the cap");
    assert_eq!(
        error,
        Error::TooLarge {
            size: bytes.len(),
            limit: bytes.len() - 1
        }
    );
    assert!(Ensemble::from_onnx(&bytes, bytes.len()).is_ok());
}
