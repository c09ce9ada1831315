//! The artifact boundary: JSON round trip, and every corruption refused with a typed error.

use fluxops_inference::{
    ArtifactError, FORMAT_VERSION, ForestError, ForestSpec, InputError, Model, ModelArtifact,
    NodeSpec, TreeSpec,
};

/// Two stumps over three features voting among labels 10, 20 and 30.
fn artifact() -> ModelArtifact {
    let stump = |feature, threshold, low, high| TreeSpec {
        nodes: vec![
            NodeSpec::Split {
                feature,
                threshold,
                left: 1,
                right: 2,
            },
            NodeSpec::Leaf { class: low },
            NodeSpec::Leaf { class: high },
        ],
    };
    let forest = ForestSpec {
        n_features: 3,
        n_classes: 3,
        trees: vec![
            stump(0, 0.1, 0, 2),
            stump(2, -0.3, 1, 2),
            stump(1, 0.0, 0, 1),
        ],
    };
    ModelArtifact::with_placeholder_metadata(forest, &["a", "b", "c"], &[10, 20, 30])
}

fn json_value(artifact: &ModelArtifact) -> serde_json::Value {
    serde_json::from_slice(&artifact.to_json()).unwrap()
}

fn load(value: &serde_json::Value) -> Result<Model, ArtifactError> {
    Model::from_json(&serde_json::to_vec(value).unwrap())
}

#[test]
fn round_trips_through_json_with_identical_predictions() {
    let original = artifact();
    let bytes = original.to_json();
    let parsed = ModelArtifact::from_json(&bytes).unwrap();
    assert_eq!(parsed, original);
    assert_eq!(parsed.format_version, FORMAT_VERSION);
    let model = Model::from_json(&bytes).unwrap();
    let in_memory = Model::from_artifact(original).unwrap();
    for row in [
        [0.0, 0.0, 0.0],
        [1.0, -1.0, 5.0],
        [0.1, 0.0, -0.3],
        [-7.5, 2.0, 1e9],
    ] {
        assert_eq!(
            model.predict_one(&row).unwrap(),
            in_memory.predict_one(&row).unwrap()
        );
    }
}

#[test]
fn thresholds_survive_json_to_the_last_bit() {
    let mut artifact = artifact();
    let awkward = [
        0.1 + 0.2,
        1.0 / 3.0,
        2.225_073_858_507_201e-308,
        123_456_789.123_456_79,
    ];
    for (tree, threshold) in artifact.forest.trees.iter_mut().zip(awkward) {
        if let NodeSpec::Split {
            threshold: value, ..
        } = &mut tree.nodes[0]
        {
            *value = threshold;
        }
    }
    let artifact = ModelArtifact::new(artifact.metadata, artifact.forest);
    let parsed = ModelArtifact::from_json(&artifact.to_json()).unwrap();
    assert_eq!(parsed.forest, artifact.forest);
}

#[test]
fn predicts_labels_with_vote_shares() {
    let model = Model::from_json(&artifact().to_json()).unwrap();
    // Votes: tree 0 -> class 2 (0.5 > 0.1), tree 1 -> class 2 (1 > -0.3), tree 2 -> class 0.
    let prediction = model.predict_one(&[0.5, -1.0, 1.0]).unwrap();
    assert_eq!(prediction.label, 30);
    assert_eq!(prediction.class_index, 2);
    assert_eq!(prediction.probabilities, vec![1.0 / 3.0, 0.0, 2.0 / 3.0]);
    assert_eq!(prediction.confidence, 2.0 / 3.0);

    let rows = vec![vec![0.5, -1.0, 1.0], vec![0.0, 1.0, -1.0]];
    let batch = model.rows_to_batch(&rows).unwrap();
    let predictions = model.predict_batch(batch.view()).unwrap();
    for (row_idx, row) in rows.iter().enumerate() {
        let single = model.predict_one(row).unwrap();
        assert_eq!(predictions.labels[row_idx], single.label);
        assert_eq!(
            predictions.probabilities.row(row_idx).to_vec(),
            single.probabilities
        );
        assert_eq!(predictions.confidence(row_idx), Some(single.confidence));
    }
}

#[test]
fn ragged_batches_name_the_row() {
    let model = Model::from_json(&artifact().to_json()).unwrap();
    let rows = vec![vec![0.0; 3], vec![0.0; 2]];
    assert_eq!(
        model.rows_to_batch(&rows),
        Err(InputError::WrongFeatureCount {
            row: Some(1),
            expected: 3,
            actual: 2
        })
    );
    assert_eq!(model.rows_to_batch(&[]), Err(InputError::EmptyBatch));
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
    let mut value = json_value(&artifact());
    value["format_version"] = 99.into();
    assert!(matches!(
        load(&value),
        Err(ArtifactError::UnsupportedFormatVersion {
            found: 99,
            supported: FORMAT_VERSION
        })
    ));
}

#[test]
fn refuses_a_tampered_forest() {
    let mut value = json_value(&artifact());
    value["forest"]["trees"][0]["nodes"][0]["split"]["threshold"] = 0.2.into();
    assert!(matches!(
        load(&value),
        Err(ArtifactError::DigestMismatch { .. })
    ));
}

#[test]
fn refuses_a_broken_forest_even_with_a_matching_digest() {
    let mut artifact = artifact();
    artifact.forest.trees[1].nodes[0] = NodeSpec::Split {
        feature: 7,
        threshold: 0.0,
        left: 1,
        right: 2,
    };
    let resealed = ModelArtifact::new(artifact.metadata, artifact.forest);
    assert!(matches!(
        Model::from_json(&resealed.to_json()),
        Err(ArtifactError::InvalidForest(
            ForestError::FeatureOutOfRange {
                tree: 1,
                node: 0,
                feature: 7,
                n_features: 3
            }
        ))
    ));
}

#[test]
fn refuses_metadata_that_disagrees_with_the_forest() {
    let mut value = json_value(&artifact());
    value["metadata"]["feature_names"] = serde_json::json!(["a", "b"]);
    assert!(
        matches!(load(&value), Err(ArtifactError::Inconsistent(message)) if message.contains("2 feature names"))
    );

    let mut value = json_value(&artifact());
    value["metadata"]["class_labels"] = serde_json::json!([30, 20, 10]);
    assert!(matches!(load(&value), Err(ArtifactError::Inconsistent(_))));
}

#[test]
fn refuses_garbage_and_unknown_fields() {
    assert!(matches!(
        Model::from_json(b"{\"format_version\": 1"),
        Err(ArtifactError::Json(_))
    ));
    assert!(matches!(Model::from_json(b""), Err(ArtifactError::Json(_))));
    let mut value = json_value(&artifact());
    value["forest"]["surprise"] = true.into();
    assert!(matches!(load(&value), Err(ArtifactError::Json(_))));
}
