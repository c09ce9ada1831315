//! A hostile artifact is refused before it takes the memory it asks for: the counting pass runs
//! before anything proportional to the document is allocated.
//!
//! These tests read the process's peak resident memory from `/proc` (Linux), so they live alone
//! in their own test binary and take turns through [`MEASURING`]: nothing else allocates while
//! one measures.

use fluxops_inference::testing::{Stump, stump_artifact};
use fluxops_inference::{ArtifactError, Limited, Model, ModelArtifact, ModelLimits, NodeSpec};

/// Held while a test measures memory.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Peak resident memory since the last reset, in bytes.
fn peak_resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// Resets the peak to the current resident memory.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("writable /proc/self/clear_refs");
}

#[test]
fn leaf_values_beyond_the_cap_are_refused_without_being_allocated() {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // One leaf with 4 million values: 16 MB of JSON that would parse into 32 MB of f64 (and up
    // to twice that while the list grows).
    let n_values = 4_000_000;
    let mut artifact = stump_artifact(1, &[0, 1], &[Stump::new(0, 0.5)]);
    artifact.ensemble.n_outputs = n_values;
    artifact.ensemble.trees[0].nodes[1] = NodeSpec::leaf(vec![0.0; n_values]);
    // Sealed with its digest, so that only the limits stand in its way.
    let hostile =
        ModelArtifact::new(artifact.metadata, artifact.schema, artifact.ensemble).to_json();
    let limits = ModelLimits {
        max_leaf_values: 1_000_000,
        max_outputs: usize::MAX,
        ..ModelLimits::default()
    };

    reset_peak();
    let before = peak_resident_bytes();
    let refused = Model::from_json(&hostile, &limits);
    let grown = peak_resident_bytes().saturating_sub(before);

    // The hostile leaf, and the other leaf's two values.
    match refused {
        Err(ArtifactError::OverLimit(exceeded)) => {
            assert_eq!(
                (exceeded.what, exceeded.found),
                (Limited::LeafValues, n_values + 2)
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        grown < 4 * 1024 * 1024,
        "refusing took {grown} bytes of extra memory"
    );
}

#[test]
fn base_values_beyond_the_cap_are_refused_without_being_allocated() {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Four million base values: 8 MB of JSON that would parse into 32 MB of f64 or more.
    let n_values = 4_000_000;
    let mut artifact = stump_artifact(1, &[0, 1], &[Stump::new(0, 0.5)]);
    artifact.ensemble.base_values = vec![0.0; n_values];
    let hostile =
        ModelArtifact::new(artifact.metadata, artifact.schema, artifact.ensemble).to_json();

    reset_peak();
    let before = peak_resident_bytes();
    let refused = Model::from_json(&hostile, &ModelLimits::default());
    let grown = peak_resident_bytes().saturating_sub(before);

    match refused {
        Err(ArtifactError::OverLimit(exceeded)) => {
            assert_eq!(
                (exceeded.what, exceeded.found),
                (Limited::Outputs, n_values)
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        grown < 4 * 1024 * 1024,
        "refusing took {grown} bytes of extra memory"
    );
}
