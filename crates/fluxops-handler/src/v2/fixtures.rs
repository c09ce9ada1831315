//! Models for the V2 unit tests: every task, which the handler's state may not admit yet.

use fluxops_inference::testing::placeholder_metadata;
use fluxops_inference::{
    EnsembleSpec, Model, ModelArtifact, ModelLimits, NodeSpec, Schema, Task, TreeSpec,
};

/// One stump over two features: `row[0] <= 0.5` gives every output 0.25, otherwise 0.75 (for
/// a two-class classifier with one output per class, a tie and then a tie again: class 0 both
/// times; with one output, the probability of the second class).
pub(crate) fn stump_model(task: Task, n_outputs: usize) -> Model {
    let leaf = |value: f64| NodeSpec::leaf(vec![value; n_outputs]);
    let tree = TreeSpec {
        nodes: vec![NodeSpec::split(0, 0.5, 1, 2), leaf(0.25), leaf(0.75)],
    };
    let ensemble = EnsembleSpec::averaging(2, n_outputs, vec![tree]);
    let schema = Schema {
        feature_names: vec!["a".to_owned(), "b".to_owned()],
        task,
    };
    let artifact = ModelArtifact::new(placeholder_metadata(), schema, ensemble);
    Model::from_artifact(artifact, &ModelLimits::default()).expect("a valid model")
}
