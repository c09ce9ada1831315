//! Model limits: each cap refuses an artifact beyond it, through the bytes path the handler uses,
//! with the count and the cap in the message.

use fluxops_inference::testing::{Stump, stump_artifact};
use fluxops_inference::{ArtifactError, Limited, Model, ModelLimits, NodeSpec, TreeSpec};
use serde_json::{Value, json};

/// Two stumps over four features, labels 0 and 1: 2 trees, 6 nodes, 8 leaf values.
fn artifact_value() -> Value {
    let stumps = [Stump::new(0, 0.5), Stump::new(3, 0.5)];
    serde_json::from_slice(&stump_artifact(4, &[0, 1], &stumps).to_json()).unwrap()
}

/// Limits that the unmodified artifact meets exactly.
fn tight() -> ModelLimits {
    ModelLimits {
        max_model_bytes: 10_000,
        max_trees: 2,
        max_nodes: 6,
        max_depth: 1,
        max_outputs: 2,
        max_features: 4,
        max_leaf_values: 8,
        max_metadata_values: 100,
    }
}

fn refusal(value: &Value) -> (Limited, usize, usize, String) {
    let bytes = serde_json::to_vec(value).unwrap();
    match Model::from_json(&bytes, &tight()) {
        Err(error @ ArtifactError::OverLimit(_)) => {
            let message = error.to_string();
            let ArtifactError::OverLimit(exceeded) = error else {
                unreachable!()
            };
            (exceeded.what, exceeded.found, exceeded.max, message)
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("accepted"),
    }
}

fn what_and_count(value: &Value) -> (Limited, usize) {
    let (what, found, _, _) = refusal(value);
    (what, found)
}

#[test]
fn an_artifact_at_every_limit_loads() {
    let bytes = serde_json::to_vec(&artifact_value()).unwrap();
    assert!(Model::from_json(&bytes, &tight()).is_ok());
}

#[test]
fn each_cap_refuses_an_artifact_beyond_it() {
    let tree = |value: &Value| value["ensemble"]["trees"][0].clone();

    let mut trees = artifact_value();
    let extra = tree(&trees);
    trees["ensemble"]["trees"]
        .as_array_mut()
        .unwrap()
        .push(extra);
    assert_eq!(refusal(&trees).0, Limited::Trees);

    let mut nodes = artifact_value();
    nodes["ensemble"]["trees"][0]["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"leaf": {"values": [1.0, 0.0]}}));
    assert_eq!(what_and_count(&nodes), (Limited::Nodes, 7));

    let mut leaf_values = artifact_value();
    leaf_values["ensemble"]["trees"][0]["nodes"][1]["leaf"]["values"] = json!([1.0, 0.0, 0.0]);
    let (what, found, max, message) = refusal(&leaf_values);
    assert_eq!((what, found, max), (Limited::LeafValues, 9, 8));
    assert_eq!(
        message,
        "model artifact is too large: 9 leaf values, more than the 8 allowed"
    );

    let mut outputs = artifact_value();
    outputs["ensemble"]["n_outputs"] = 3.into();
    assert_eq!(refusal(&outputs).0, Limited::Outputs);

    let mut labels = artifact_value();
    labels["schema"]["task"]["classifier"]["labels"]["integers"] = json!([0, 1, 2]);
    assert_eq!(refusal(&labels).0, Limited::Outputs);

    let mut features = artifact_value();
    features["ensemble"]["n_features"] = 1_000_000_000_u64.into();
    assert_eq!(
        what_and_count(&features),
        (Limited::Features, 1_000_000_000)
    );

    let mut names = artifact_value();
    names["schema"]["feature_names"]
        .as_array_mut()
        .unwrap()
        .push("extra".into());
    assert_eq!(refusal(&names).0, Limited::Features);

    let mut metadata = artifact_value();
    metadata["metadata"]["algorithm"]["parameters"]["grid"] = json!(vec![0; 100]);
    assert_eq!(refusal(&metadata).0, Limited::MetadataValues);

    let mut bytes = artifact_value();
    bytes["metadata"]["name"] = "x".repeat(10_000).into();
    assert_eq!(refusal(&bytes).0, Limited::ModelBytes);
}

#[test]
fn a_tree_deeper_than_the_cap_is_refused_while_compiling() {
    let mut artifact = stump_artifact(4, &[0, 1], &[]);
    // One tree two levels deep: 5 nodes, 6 leaf values.
    artifact.ensemble.trees = vec![TreeSpec {
        nodes: vec![
            NodeSpec::split(0, 0.5, 1, 2),
            NodeSpec::leaf(vec![1.0, 0.0]),
            NodeSpec::split(1, 0.5, 3, 4),
            NodeSpec::leaf(vec![1.0, 0.0]),
            NodeSpec::leaf(vec![0.0, 1.0]),
        ],
    }];
    let artifact = fluxops_inference::ModelArtifact::new(
        artifact.metadata,
        artifact.schema,
        artifact.ensemble,
    );
    let value: Value = serde_json::from_slice(&artifact.to_json()).unwrap();
    let (what, found, max, _) = refusal(&value);
    assert_eq!((what, found, max), (Limited::Depth, 2, 1));
}

#[test]
fn format_1_artifacts_are_counted_as_they_will_be_converted() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let bytes = std::fs::read(folder.join("three.model.json")).unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    let n_leaves = value["forest"]["trees"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|tree| tree["nodes"].as_array().unwrap())
        .filter(|node| node.get("leaf").is_some())
        .count();
    // Every leaf becomes three values, one per class.
    let limits = ModelLimits {
        max_leaf_values: 3 * n_leaves - 1,
        ..ModelLimits::default()
    };
    match Model::from_json(&bytes, &limits) {
        Err(ArtifactError::OverLimit(exceeded)) => {
            assert_eq!(
                (exceeded.what, exceeded.found),
                (Limited::LeafValues, 3 * n_leaves)
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let limits = ModelLimits {
        max_leaf_values: 3 * n_leaves,
        ..ModelLimits::default()
    };
    assert!(Model::from_json(&bytes, &limits).is_ok());
}
