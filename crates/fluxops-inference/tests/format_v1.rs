//! Format version 1 keeps loading: artifacts written by the format-1 trainer predict exactly what
//! the format-1 code predicted (`tests/fixtures/v1/*.expected.json` were recorded with it).

use fluxops_inference::{
    Aggregation, ArtifactError, ClassLabel, ClassLabels, EnsembleError, Evaluation, Model,
    ModelArtifact, ModelLimits, Origin, PostTransform, Prediction, Task,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Expected {
    rows: Vec<Vec<f64>>,
    predictions: Vec<ExpectedPrediction>,
}

#[derive(Deserialize)]
struct ExpectedPrediction {
    class_index: usize,
    label: i64,
    probabilities: Vec<f64>,
    confidence: f64,
}

fn fixture(name: &str) -> (Vec<u8>, Expected) {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let model = std::fs::read(folder.join(format!("{name}.model.json"))).unwrap();
    let expected = std::fs::read(folder.join(format!("{name}.expected.json"))).unwrap();
    (model, serde_json::from_slice(&expected).unwrap())
}

#[test]
fn format_1_artifacts_predict_exactly_as_format_1_code_did() {
    for name in ["binary", "three"] {
        let (bytes, expected) = fixture(name);
        let model = Model::from_json(&bytes, &ModelLimits::default()).unwrap();
        let predictor = model.predictor();
        assert_eq!(expected.rows.len(), expected.predictions.len());
        for (row_idx, (row, expected)) in
            expected.rows.iter().zip(&expected.predictions).enumerate()
        {
            let Prediction::Class(prediction) = predictor.predict_one(row).unwrap() else {
                panic!("a format-1 model is a classifier");
            };
            let what = format!("{name} row {row_idx}");
            assert_eq!(prediction.class_index, expected.class_index, "{what}");
            assert_eq!(
                prediction.label,
                ClassLabel::Integer(expected.label),
                "{what}"
            );
            // Bit for bit: vote shares are computed exactly as before.
            assert_eq!(prediction.probabilities, expected.probabilities, "{what}");
            assert_eq!(prediction.confidence, expected.confidence, "{what}");
        }
        let batch = predictor.rows_to_batch(&expected.rows).unwrap();
        let fluxops_inference::BatchPrediction::Classes(batch) =
            predictor.predict_batch(batch.view()).unwrap()
        else {
            panic!("a format-1 model is a classifier");
        };
        for (row_idx, expected) in expected.predictions.iter().enumerate() {
            assert_eq!(batch.class_indices[row_idx], expected.class_index);
            assert_eq!(
                batch.probabilities.row(row_idx).to_vec(),
                expected.probabilities
            );
        }
    }
}

#[test]
fn a_format_1_artifact_becomes_a_voting_ensemble_with_its_provenance() {
    let (bytes, _) = fixture("three");
    let artifact = ModelArtifact::from_json(&bytes, &ModelLimits::default()).unwrap();
    assert_eq!(artifact.format_version, 2);
    assert_eq!(
        artifact.schema.task,
        Task::Classifier {
            labels: ClassLabels::Integers(vec![-3, 7, 20])
        }
    );
    assert_eq!(artifact.schema.feature_names, vec!["a", "b", "c", "d"]);
    let ensemble = &artifact.ensemble;
    assert_eq!(
        (
            ensemble.n_outputs,
            ensemble.aggregation,
            ensemble.post_transform
        ),
        (3, Aggregation::Average, PostTransform::None)
    );
    assert_eq!(ensemble.base_values, vec![0.0; 3]);
    assert!(
        matches!(artifact.metadata.origin, Origin::Trained { ref trainer_version } if trainer_version == "0.1.0")
    );
    assert_eq!(artifact.metadata.algorithm.name, "random_forest_classifier");
    assert_eq!(artifact.metadata.algorithm.parameters["n_trees"], 5);
    assert_eq!(artifact.metadata.algorithm.parameters["max_depth"], 4);
    assert!(artifact.metadata.training_data.is_some());
    assert!(
        matches!(artifact.metadata.evaluation, Some(Evaluation::Classification(ref evaluation)) if evaluation.n_samples == 60)
    );
    // The converted artifact is a format-2 artifact like any other.
    let reloaded = ModelArtifact::from_json(&artifact.to_json(), &ModelLimits::default()).unwrap();
    assert_eq!(reloaded, artifact);
}

fn load(value: &serde_json::Value) -> Result<Model, ArtifactError> {
    Model::from_json(&serde_json::to_vec(value).unwrap(), &ModelLimits::default())
}

#[test]
fn what_format_1_refused_stays_refused() {
    let (bytes, _) = fixture("three");
    let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();

    let mut tampered = original.clone();
    tampered["forest"]["trees"][0]["nodes"][0]["split"]["threshold"] = 0.2.into();
    assert!(matches!(
        load(&tampered),
        Err(ArtifactError::DigestMismatch { .. })
    ));

    let mut unsorted = original.clone();
    unsorted["metadata"]["class_labels"] = serde_json::json!([20, 7, -3]);
    assert!(matches!(
        load(&unsorted),
        Err(ArtifactError::Inconsistent(_))
    ));

    // One label fewer than the forest's classes: format 2 would read the forest as binary.
    let mut short = original.clone();
    short["metadata"]["class_labels"] = serde_json::json!([-3, 7]);
    assert!(matches!(
        load(&short),
        Err(ArtifactError::Inconsistent(message)) if message.contains("2 class labels for a forest of 3 classes")
    ));

    let mut surprise = original;
    surprise["forest"]["surprise"] = true.into();
    assert!(matches!(load(&surprise), Err(ArtifactError::Json(_))));

    // A leaf voting for a class the forest does not have, digest resealed. The file is the
    // format-1 writer's canonical JSON, so the forest's digest covers its text as it stands.
    let text = String::from_utf8(bytes).unwrap();
    let forest_start = text.find(r#""forest":"#).unwrap() + r#""forest":"#.len();
    let forest = text[forest_start..text.len() - 1].replacen(
        r#"{"leaf":{"class":0}}"#,
        r#"{"leaf":{"class":3}}"#,
        1,
    );
    let recorded = text[..forest_start]
        .rsplit_once(r#""forest_sha256":""#)
        .unwrap()
        .1[..64]
        .to_owned();
    let resealed = format!(
        "{}{forest}}}",
        text[..forest_start].replace(&recorded, &hex::encode(Sha256::digest(forest.as_bytes())))
    );
    assert!(matches!(
        Model::from_json(resealed.as_bytes(), &ModelLimits::default()),
        Err(ArtifactError::InvalidEnsemble(
            EnsembleError::ClassOutOfRange {
                class: 3,
                n_classes: 3,
                ..
            }
        ))
    ));
}
