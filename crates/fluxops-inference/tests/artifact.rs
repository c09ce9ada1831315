//! The artifact boundary: JSON round trip, every task, and every corruption refused with a typed
//! error.

use fluxops_inference::testing::{Stump, placeholder_metadata, stump_artifact};
use fluxops_inference::{
    Aggregation, ArtifactError, BatchPrediction, ClassLabel, ClassLabels, EnsembleError,
    EnsembleSpec, FORMAT_VERSION, InputError, Model, ModelArtifact, ModelLimits, NodeSpec,
    NumberType, PostTransform, Prediction, Schema, Task, TreeSpec,
};

/// Three stumps over three features voting among labels 10, 20 and 30.
fn artifact() -> ModelArtifact {
    let stump = |feature, threshold, at_or_below, above| Stump {
        feature,
        threshold,
        at_or_below,
        above,
    };
    stump_artifact(
        3,
        &[10, 20, 30],
        &[
            stump(0, 0.1, 0, 2),
            stump(2, -0.3, 1, 2),
            stump(1, 0.0, 0, 1),
        ],
    )
}

fn json_value(artifact: &ModelArtifact) -> serde_json::Value {
    serde_json::from_slice(&artifact.to_json()).unwrap()
}

fn load(value: &serde_json::Value) -> Result<Model, ArtifactError> {
    Model::from_json(&serde_json::to_vec(value).unwrap(), &ModelLimits::default())
}

fn class(prediction: Prediction<'_>) -> fluxops_inference::ClassPrediction<'_> {
    match prediction {
        Prediction::Class(class) => class,
        Prediction::Values(values) => panic!("a classifier answered values {values:?}"),
    }
}

#[test]
fn round_trips_through_json_with_identical_predictions() {
    let original = artifact();
    let bytes = original.to_json();
    let limits = ModelLimits::default();
    let parsed = ModelArtifact::from_json(&bytes, &limits).unwrap();
    assert_eq!(parsed, original);
    assert_eq!(parsed.format_version, FORMAT_VERSION);
    let model = Model::from_json(&bytes, &limits).unwrap();
    let in_memory = Model::from_artifact(original, &limits).unwrap();
    assert_eq!(model.ensemble_sha256(), in_memory.ensemble_sha256());
    for row in [
        [0.0, 0.0, 0.0],
        [1.0, -1.0, 5.0],
        [0.1, 0.0, -0.3],
        [-7.5, 2.0, 1e9],
    ] {
        assert_eq!(
            model.predictor().predict_one(&row).unwrap(),
            in_memory.predictor().predict_one(&row).unwrap()
        );
    }
}

#[test]
fn thresholds_and_leaf_values_survive_json_to_the_last_bit() {
    let mut artifact = artifact();
    let awkward = [
        0.1 + 0.2,
        1.0 / 3.0,
        2.225_073_858_507_201e-308,
        123_456_789.123_456_79,
    ];
    for (tree, awkward) in artifact.ensemble.trees.iter_mut().zip(awkward) {
        if let NodeSpec::Split { threshold, .. } = &mut tree.nodes[0] {
            *threshold = awkward;
        }
        tree.nodes[1] = NodeSpec::leaf(vec![awkward, -awkward, 0.0]);
    }
    let artifact = ModelArtifact::new(artifact.metadata, artifact.schema, artifact.ensemble);
    let parsed = ModelArtifact::from_json(&artifact.to_json(), &ModelLimits::default()).unwrap();
    assert_eq!(parsed.ensemble, artifact.ensemble);
}

#[test]
fn predicts_labels_with_vote_shares() {
    let model = Model::from_json(&artifact().to_json(), &ModelLimits::default()).unwrap();
    let predictor = model.predictor();
    // Votes: tree 0 -> class 2 (0.5 > 0.1), tree 1 -> class 2 (1 > -0.3), tree 2 -> class 0.
    let prediction = class(predictor.predict_one(&[0.5, -1.0, 1.0]).unwrap());
    assert_eq!(prediction.label, ClassLabel::Integer(30));
    assert_eq!(prediction.class_index, 2);
    assert_eq!(prediction.probabilities, vec![1.0 / 3.0, 0.0, 2.0 / 3.0]);
    assert_eq!(prediction.confidence, 2.0 / 3.0);

    let rows = vec![vec![0.5, -1.0, 1.0], vec![0.0, 1.0, -1.0]];
    let batch = predictor.rows_to_batch(&rows).unwrap();
    let BatchPrediction::Classes(predictions) = predictor.predict_batch(batch.view()).unwrap()
    else {
        panic!("a classifier predicts classes");
    };
    for (row_idx, row) in rows.iter().enumerate() {
        let single = class(predictor.predict_one(row).unwrap());
        assert_eq!(predictions.class_indices[row_idx], single.class_index);
        assert_eq!(
            predictions.probabilities.row(row_idx).to_vec(),
            single.probabilities
        );
        assert_eq!(predictions.confidence(row_idx), Some(single.confidence));
    }
}

#[test]
fn string_labels_and_regressors_round_trip_and_predict() {
    let mut strings = artifact();
    strings.schema.task = Task::Classifier {
        labels: ClassLabels::Strings(vec!["low".into(), "mid".into(), "high".into()]),
    };
    let model = Model::from_json(&strings.to_json(), &ModelLimits::default()).unwrap();
    let prediction = class(model.predictor().predict_one(&[0.5, -1.0, 1.0]).unwrap());
    assert_eq!(prediction.label, ClassLabel::String("high"));

    // A boosted regressor: two trees summed, plus a base value.
    let ensemble = EnsembleSpec {
        n_features: 1,
        n_outputs: 1,
        aggregation: Aggregation::Sum,
        base_values: vec![100.0],
        post_transform: PostTransform::None,
        score_type: NumberType::F64,
        trees: vec![
            TreeSpec {
                nodes: vec![
                    NodeSpec::split(0, 0.0, 1, 2),
                    NodeSpec::leaf(vec![-1.5]),
                    NodeSpec::leaf(vec![2.5]),
                ],
            },
            TreeSpec {
                nodes: vec![NodeSpec::leaf(vec![0.25])],
            },
        ],
    };
    let schema = Schema {
        feature_names: vec!["x".into()],
        task: Task::Regressor {},
    };
    let regressor = ModelArtifact::new(placeholder_metadata(), schema, ensemble);
    let model = Model::from_json(&regressor.to_json(), &ModelLimits::default()).unwrap();
    assert_eq!(
        model.predictor().predict_one(&[1.0]).unwrap(),
        Prediction::Values(vec![102.75])
    );
    let json = String::from_utf8(regressor.to_json()).unwrap();
    assert!(json.contains(r#""task":{"regressor":{}}"#), "{json}");
}

#[test]
fn ragged_batches_name_the_row() {
    let model = Model::from_json(&artifact().to_json(), &ModelLimits::default()).unwrap();
    let rows = vec![vec![0.0; 3], vec![0.0; 2]];
    assert_eq!(
        model.predictor().rows_to_batch(&rows),
        Err(InputError::WrongFeatureCount {
            row: Some(1),
            expected: 3,
            actual: 2
        })
    );
    assert_eq!(
        model.predictor().rows_to_batch(&[]),
        Err(InputError::EmptyBatch)
    );
    assert_eq!(
        InputError::NonFinite {
            row: Some(4),
            index: 2
        }
        .to_string(),
        "row 4: feature 2 is not a finite number"
    );
}

#[test]
fn refuses_an_unknown_format_version() {
    for version in [0, 3, 99] {
        let mut value = json_value(&artifact());
        value["format_version"] = version.into();
        let error = load(&value).unwrap_err();
        assert!(
            matches!(error, ArtifactError::UnsupportedFormatVersion { found } if found == version),
            "{error}"
        );
        assert!(
            error.to_string().contains("reads versions 1 to 2"),
            "{error}"
        );
    }
}

#[test]
fn refuses_a_tampered_ensemble() {
    let mut value = json_value(&artifact());
    value["ensemble"]["trees"][0]["nodes"][0]["split"]["threshold"] = 0.2.into();
    assert!(matches!(
        load(&value),
        Err(ArtifactError::DigestMismatch { .. })
    ));
}

#[test]
fn refuses_a_broken_ensemble_even_with_a_matching_digest() {
    let mut artifact = artifact();
    artifact.ensemble.trees[1].nodes[0] = NodeSpec::split(7, 0.0, 1, 2);
    let resealed = ModelArtifact::new(artifact.metadata, artifact.schema, artifact.ensemble);
    assert!(matches!(
        Model::from_json(&resealed.to_json(), &ModelLimits::default()),
        Err(ArtifactError::InvalidEnsemble(
            EnsembleError::FeatureOutOfRange {
                tree: 1,
                node: 0,
                feature: 7,
                n_features: 3
            }
        ))
    ));
}

#[test]
fn refuses_a_schema_that_disagrees_with_the_ensemble() {
    let mut value = json_value(&artifact());
    value["schema"]["feature_names"] = serde_json::json!(["a", "b"]);
    assert!(
        matches!(load(&value), Err(ArtifactError::Inconsistent(message)) if message.contains("2 feature names"))
    );

    let mut value = json_value(&artifact());
    value["schema"]["task"]["classifier"]["labels"]["integers"] = serde_json::json!([30, 20, 30]);
    assert!(matches!(load(&value), Err(ArtifactError::Inconsistent(_))));

    let mut value = json_value(&artifact());
    value["schema"]["task"]["classifier"]["labels"]["integers"] = serde_json::json!([1, 2]);
    assert!(
        matches!(load(&value), Err(ArtifactError::Inconsistent(message)) if message.contains("2 class labels for an ensemble of 3 outputs"))
    );
}

#[test]
fn refuses_garbage_and_unknown_fields() {
    let limits = ModelLimits::default();
    assert!(matches!(
        Model::from_json(b"{\"format_version\": 2", &limits),
        Err(ArtifactError::Json(_))
    ));
    assert!(matches!(
        Model::from_json(b"", &limits),
        Err(ArtifactError::Json(_))
    ));
    for place in ["ensemble", "schema", "metadata"] {
        let mut value = json_value(&artifact());
        value[place]["surprise"] = true.into();
        assert!(
            matches!(load(&value), Err(ArtifactError::Json(_))),
            "{place}"
        );
    }
}
