//! `TreeEnsemble` (ai.onnx.ml opset 5): interior nodes in parallel `nodes_*` lists, leaves in
//! parallel `leaf_*` lists, each tree named by its root in `tree_roots`, and a child reference
//! pointing into one list or the other by `nodes_trueleafs` / `nodes_falseleafs`.
//!
//! onnxruntime's reading, which this module follows: a root whose two branches are the same leaf
//! is a one-leaf tree; a leaf reached from several splits counts once per path (onnxruntime
//! copies it); each leaf adds one weight to one target. The importer also refuses an interior
//! node reached twice, which onnxruntime would copy too, because copies of a shared subtree can
//! grow exponentially.

use crate::Error;
use crate::attributes::Attributes;
use crate::build::{self, Mode, RawNode, SharedLeaves};
use crate::ensemble::{Ensemble, LeafWeight, Source, Task};
use crate::graph::Site;

const OP_TYPE: &str = "TreeEnsemble";

const KNOWN: &[&str] = &[
    "nodes_featureids",
    "nodes_splits",
    "nodes_hitrates",
    "nodes_modes",
    "nodes_truenodeids",
    "nodes_falsenodeids",
    "nodes_trueleafs",
    "nodes_falseleafs",
    "nodes_missing_value_tracks_true",
    "tree_roots",
    "membership_values",
    "leaf_targetids",
    "leaf_weights",
    "n_targets",
    "post_transform",
    "aggregate_function",
];

/// Reads a `TreeEnsemble` node into the ensemble it holds.
pub(crate) fn read(site: Site<'_>, source: Source) -> Result<Ensemble, Error> {
    let attributes = Attributes::new(site.node, OP_TYPE, KNOWN)?;
    let ints = |name| attributes.require(name, attributes.ints(name)?);
    let features = ints("nodes_featureids")?;
    let splits = attributes.require("nodes_splits", attributes.tensor_numbers("nodes_splits")?)?;
    let modes = attributes.require("nodes_modes", attributes.tensor_ints("nodes_modes")?)?;
    let true_ids = ints("nodes_truenodeids")?;
    let false_ids = ints("nodes_falsenodeids")?;
    let true_leafs = ints("nodes_trueleafs")?;
    let false_leafs = ints("nodes_falseleafs")?;
    let missing = attributes.ints("nodes_missing_value_tracks_true")?;
    let roots = ints("tree_roots")?;
    let targets = ints("leaf_targetids")?;
    let weights = attributes.require("leaf_weights", attributes.tensor_numbers("leaf_weights")?)?;

    let n = features.len();
    build::parallel(
        "nodes_featureids",
        n,
        &[
            ("nodes_splits", splits.values.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", true_ids.len()),
            ("nodes_falsenodeids", false_ids.len()),
            ("nodes_trueleafs", true_leafs.len()),
            ("nodes_falseleafs", false_leafs.len()),
            (
                "nodes_missing_value_tracks_true",
                missing.map_or(n, <[i64]>::len),
            ),
        ],
    )?;
    build::parallel(
        "leaf_targetids",
        targets.len(),
        &[("leaf_weights", weights.values.len())],
    )?;
    for (name, declared) in [
        ("nodes_splits", splits.declared),
        ("leaf_weights", weights.declared),
    ] {
        if declared != site.precision {
            return Err(Error::invalid(
                format!("attribute `{name}` of {OP_TYPE}"),
                "its element type differs from the input's; TreeEnsemble needs them equal",
            ));
        }
    }

    let n_targets = build::n_targets(&attributes, OP_TYPE)?;
    let transform_name = match attributes.int("post_transform")?.unwrap_or(0) {
        0 => "NONE",
        1 => "SOFTMAX",
        2 => "LOGISTIC",
        3 => "SOFTMAX_ZERO",
        4 => "PROBIT",
        other => {
            return Err(Error::invalid(
                format!("post_transform {other} of {OP_TYPE}"),
                "it is not an ONNX post-transform",
            ));
        }
    };
    let post_transform = build::regressor_post_transform(
        OP_TYPE,
        build::post_transform(OP_TYPE, transform_name)?,
        n_targets,
    )?;
    let aggregate_name = match attributes.int("aggregate_function")?.unwrap_or(1) {
        0 => "AVERAGE",
        1 => "SUM",
        2 => "MIN",
        3 => "MAX",
        other => {
            return Err(Error::invalid(
                format!("aggregate_function {other} of {OP_TYPE}"),
                "it is not an ONNX aggregate function",
            ));
        }
    };
    let aggregate = build::aggregate(OP_TYPE, aggregate_name)?;

    // One table: interior nodes at 0..n, leaves at n..n + leaves.
    let declared_features = site
        .input
        .n_features_declared
        .then_some(site.input.n_features);
    let n_leaves = targets.len();
    let child = |what: &dyn Fn() -> String, index: i64, is_leaf: i64| -> Result<usize, Error> {
        let (limit, offset, list) = match is_leaf {
            0 => (n, 0, "nodes"),
            1 => (n_leaves, n, "leaves"),
            other => {
                return Err(Error::invalid(
                    what(),
                    format!("its leaf flag is {other}, expected 0 or 1"),
                ));
            }
        };
        usize::try_from(index)
            .ok()
            .filter(|index| *index < limit)
            .map(|index| index + offset)
            .ok_or_else(|| {
                Error::invalid(
                    what(),
                    format!("it points at {list} entry {index}, and there are {limit}"),
                )
            })
    };
    let mut table = Vec::with_capacity(n + n_leaves);
    for i in 0..n {
        let what = || format!("node {i} of {OP_TYPE}");
        let mode = match modes[i] {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4..=6 => {
                return Err(Error::unsupported(
                    format!("an equality or set-membership split ({})", what()),
                    "these come from categorical features; one-hot encode the category before training",
                ));
            }
            other => {
                return Err(Error::invalid(
                    what(),
                    format!("its mode {other} is not an ONNX node mode"),
                ));
            }
        };
        let missing_tracks_true = build::missing_tracks_true(what, missing.map_or(0, |m| m[i]))?;
        table.push(RawNode::Split {
            onnx_node_id: i as i64,
            feature: build::feature_index(what, features[i], declared_features)?,
            threshold: build::threshold(what, splits.values[i])?,
            mode,
            missing_tracks_true,
            true_child: child(&what, true_ids[i], true_leafs[i])?,
            false_child: child(&what, false_ids[i], false_leafs[i])?,
        });
    }
    for (k, (target, value)) in targets.iter().zip(&weights.values).enumerate() {
        let what = || format!("leaf {k} of {OP_TYPE}");
        let output = usize::try_from(*target)
            .ok()
            .filter(|t| *t < n_targets)
            .ok_or_else(|| {
                Error::invalid(
                    what(),
                    format!("it names target {target}, and there are {n_targets}"),
                )
            })?;
        table.push(RawNode::Leaf {
            onnx_node_id: k as i64,
            weights: build::leaf_weights(
                what,
                vec![LeafWeight {
                    output,
                    value: *value,
                }],
            )?,
        });
    }

    if roots.is_empty() {
        return Err(Error::invalid(
            format!("attribute `tree_roots` of {OP_TYPE}"),
            "it names no tree",
        ));
    }
    let mut claimed = vec![false; table.len()];
    let mut trees = Vec::with_capacity(roots.len());
    for (tree, root) in roots.iter().enumerate() {
        let what = || format!("tree {tree} of {OP_TYPE}");
        let root = child(&what, *root, 0)?;
        // A one-leaf tree is a root whose branches both name the same leaf. onnxruntime then
        // reads the leaf at the root's own index, so the two must agree.
        let start = if true_leafs[root] == 1
            && false_leafs[root] == 1
            && true_ids[root] == false_ids[root]
        {
            if usize::try_from(true_ids[root]) != Ok(root) {
                return Err(Error::unsupported(
                    format!(
                        "{} with one leaf, {}, named from node {root}",
                        what(),
                        true_ids[root]
                    ),
                    format!(
                        "onnxruntime reads leaf entry {root} for such a tree instead; give the leaf the root's index"
                    ),
                ));
            }
            child(&what, true_ids[root], 1)?
        } else {
            root
        };
        trees.push(build::build_tree(
            tree as i64,
            &table,
            start,
            &mut claimed,
            SharedLeaves::Copied,
        )?);
    }
    Ok(Ensemble {
        source,
        input: site.input,
        precision: site.precision,
        attribute_type: splits.declared,
        trees,
        n_outputs: n_targets,
        aggregate,
        base_values: Vec::new(),
        post_transform,
        task: Task::Regressor,
        outputs: site.outputs,
    })
}

#[cfg(test)]
mod tests {
    use crate::proto::AttributeProto;
    use crate::testing::{
        Model, assert_refused, float_tensor, int, ints, tensor, tree_ensemble, uint8_tensor,
    };
    use crate::{Node, ReferenceOutput, Task};

    /// Tree 0: node 0 `x0 <= 0.5` -> leaf 0 or node 1; node 1 `x1 > 1` (GT) -> leaf 1 or leaf 0
    /// (a leaf shared by two splits). Tree 1: one leaf, 2, named by node 2.
    fn attributes() -> Vec<AttributeProto> {
        vec![
            ints("nodes_featureids", &[0, 1, 0]),
            tensor("nodes_splits", float_tensor(&[0.5, 1.0, 0.0])),
            tensor("nodes_modes", uint8_tensor(&[0, 3, 0])),
            ints("nodes_truenodeids", &[0, 1, 2]),
            ints("nodes_trueleafs", &[1, 1, 1]),
            ints("nodes_falsenodeids", &[1, 0, 2]),
            ints("nodes_falseleafs", &[0, 1, 1]),
            ints("tree_roots", &[0, 2]),
            ints("leaf_targetids", &[0, 0, 0]),
            tensor("leaf_weights", float_tensor(&[1.0, 10.0, 100.0])),
            int("n_targets", 1),
        ]
    }

    fn with(name: &str, replacement: AttributeProto) -> Vec<AttributeProto> {
        let mut attributes = attributes();
        attributes.retain(|a| a.name.as_deref() != Some(name));
        attributes.push(replacement);
        attributes
    }

    fn read_v5(attributes: Vec<AttributeProto>) -> Result<crate::Ensemble, crate::Error> {
        Model::new(vec![tree_ensemble(attributes)])
            .ml_opset(5)
            .read()
    }

    #[test]
    fn tree_ensemble_reads_as_a_regressor_with_shared_leaves_copied() {
        let ensemble = read_v5(attributes()).expect("reads");
        assert_eq!(ensemble.task, Task::Regressor);
        assert_eq!(ensemble.trees.len(), 2);
        assert_eq!(ensemble.trees[0].nodes.len(), 5);
        assert!(matches!(ensemble.trees[1].nodes[..], [Node::Leaf(_)]));
        let evaluate = |x: [f64; 2]| ensemble.evaluate(&x).expect("two features");
        assert_eq!(evaluate([0.0, 0.0]), ReferenceOutput::Values(vec![101.0]));
        assert_eq!(evaluate([1.0, 2.0]), ReferenceOutput::Values(vec![110.0]));
        assert_eq!(evaluate([1.0, 1.0]), ReferenceOutput::Values(vec![101.0]));
    }

    #[test]
    fn set_membership_and_foreign_types_are_refused() {
        assert_refused(
            read_v5(with(
                "nodes_modes",
                tensor("nodes_modes", uint8_tensor(&[6, 3, 0])),
            )),
            &["set-membership split", "node 0"],
        );
        let doubles = crate::testing::double_tensor(&[0.5, 1.0, 0.0]);
        assert_refused(
            read_v5(with("nodes_splits", tensor("nodes_splits", doubles))),
            &["`nodes_splits`", "differs from the input's"],
        );
        assert_refused(
            read_v5(with("post_transform", int("post_transform", 4))),
            &["post_transform PROBIT"],
        );
        assert_refused(
            read_v5(with("aggregate_function", int("aggregate_function", 2))),
            &["aggregate_function MIN"],
        );
    }

    #[test]
    fn shared_interior_nodes_and_bad_references_are_refused() {
        // Both trees start at node 0.
        assert_refused(
            read_v5(with("tree_roots", ints("tree_roots", &[0, 0]))),
            &["node 0 of tree 1", "reached twice"],
        );
        assert_refused(
            read_v5(with("tree_roots", ints("tree_roots", &[0, 5]))),
            &["tree 1 of TreeEnsemble", "nodes entry 5"],
        );
        assert_refused(
            read_v5(with(
                "nodes_falseleafs",
                ints("nodes_falseleafs", &[0, 2, 1]),
            )),
            &["node 1", "leaf flag is 2"],
        );
        assert_refused(
            read_v5(with("leaf_targetids", ints("leaf_targetids", &[0, 1, 0]))),
            &["leaf 1", "target 1"],
        );
        // A one-leaf tree must name the leaf at its own index.
        let mut other_leaf = with("nodes_truenodeids", ints("nodes_truenodeids", &[0, 1, 1]));
        other_leaf.retain(|a| a.name.as_deref() != Some("nodes_falsenodeids"));
        other_leaf.push(ints("nodes_falsenodeids", &[1, 0, 1]));
        assert_refused(read_v5(other_leaf), &["with one leaf", "root's index"]);
    }
}
