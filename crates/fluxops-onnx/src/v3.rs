//! The classic operators, `TreeEnsembleClassifier` and `TreeEnsembleRegressor` (ai.onnx.ml opsets
//! 1 to 5): one entry per node in parallel `nodes_*` lists, and leaf weights in parallel
//! `class_*` or `target_*` lists keyed by (tree id, node id).
//!
//! onnxruntime's reading, which this module follows: a tree is the run of consecutive entries
//! with one tree id, and its root is the first entry of the run; node ids restart per tree and
//! need be neither dense nor ordered; every node must be reached from the root exactly once;
//! weights that name a split are ignored.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use crate::Error;
use crate::attributes::{Attributes, Numbers};
use crate::build::{self, Mode, RawNode, SharedLeaves};
use crate::ensemble::{
    Aggregate, ClassLabels, ClassScoring, Ensemble, LeafWeight, NumberType, Operator,
    PostTransform, Source, Task,
};
use crate::graph::Site;

const COMMON: &[&str] = &[
    "nodes_treeids",
    "nodes_nodeids",
    "nodes_featureids",
    "nodes_modes",
    "nodes_values",
    "nodes_values_as_tensor",
    "nodes_truenodeids",
    "nodes_falsenodeids",
    "nodes_missing_value_tracks_true",
    "nodes_hitrates",
    "nodes_hitrates_as_tensor",
    "post_transform",
    "base_values",
    "base_values_as_tensor",
];
const CLASSIFIER: &[&str] = &[
    "class_treeids",
    "class_nodeids",
    "class_ids",
    "class_weights",
    "class_weights_as_tensor",
    "classlabels_int64s",
    "classlabels_strings",
];
const REGRESSOR: &[&str] = &[
    "target_treeids",
    "target_nodeids",
    "target_ids",
    "target_weights",
    "target_weights_as_tensor",
    "n_targets",
    "aggregate_function",
];

/// Reads a `TreeEnsembleClassifier` or `TreeEnsembleRegressor` node into the ensemble it holds.
pub(crate) fn read(site: Site<'_>, source: Source) -> Result<Ensemble, Error> {
    let op_type = site.operator.name();
    let classifier = site.operator == Operator::TreeEnsembleClassifier;
    let known: Vec<&str> = COMMON
        .iter()
        .chain(if classifier { CLASSIFIER } else { REGRESSOR })
        .copied()
        .collect();
    let attributes = Attributes::new(site.node, op_type, &known)?;
    let nodes = NodeColumns::read(&attributes)?;
    let weights = WeightColumns::read(&attributes, if classifier { "class" } else { "target" })?;
    let base = attributes.numbers("base_values", "base_values_as_tensor")?;

    let attribute_type = [Some(&nodes.values), Some(&weights.values), base.as_ref()]
        .into_iter()
        .flatten()
        .map(|numbers| numbers.declared)
        .max()
        .unwrap_or(NumberType::F32);
    if attribute_type > site.precision {
        return Err(Error::unsupported(
            format!("double attributes (`*_as_tensor`) of {op_type} on a float input"),
            "onnxruntime does not run this combination; export the model with a double input, or with float attributes",
        ));
    }
    let post_transform = build::post_transform(
        op_type,
        &attributes
            .string("post_transform")?
            .unwrap_or_else(|| "NONE".into()),
    )?;
    let base_values = base.map(|numbers| numbers.values).unwrap_or_default();

    let (task, n_outputs, aggregate) = if classifier {
        let labels = class_labels(&attributes)?;
        weights.check_ids(op_type, labels.len())?;
        let n_outputs = if labels.len() == 2 {
            binary_single_column(op_type, &weights)?
        } else {
            labels.len()
        };
        let scoring = class_scoring(op_type, &labels, &weights, &base_values, post_transform)?;
        (
            Task::Classifier { labels, scoring },
            n_outputs,
            Aggregate::Sum,
        )
    } else {
        let n_targets = build::n_targets(&attributes, op_type)?;
        weights.check_ids(op_type, n_targets)?;
        build::regressor_post_transform(op_type, post_transform, n_targets)?;
        let aggregate = build::aggregate(
            op_type,
            &attributes
                .string("aggregate_function")?
                .unwrap_or_else(|| "SUM".into()),
        )?;
        (Task::Regressor, n_targets, aggregate)
    };
    let base_values = build::base_values(op_type, base_values, n_outputs)?;
    let declared_features = site
        .input
        .n_features_declared
        .then_some(site.input.n_features);
    let trees = read_trees(&nodes, &weights, declared_features)?;
    Ok(Ensemble {
        source,
        input: site.input,
        precision: site.precision,
        attribute_type,
        trees,
        n_outputs,
        aggregate,
        base_values,
        post_transform,
        task,
        outputs: site.outputs,
    })
}

/// The `nodes_*` attributes, checked to be parallel.
struct NodeColumns<'a> {
    tree_ids: &'a [i64],
    node_ids: &'a [i64],
    feature_ids: &'a [i64],
    modes: Vec<String>,
    values: Numbers,
    true_ids: &'a [i64],
    false_ids: &'a [i64],
    missing_tracks_true: Option<&'a [i64]>,
}

impl<'a> NodeColumns<'a> {
    fn read(attributes: &Attributes<'a>) -> Result<Self, Error> {
        let ints = |name| attributes.require(name, attributes.ints(name)?);
        let columns = Self {
            tree_ids: ints("nodes_treeids")?,
            node_ids: ints("nodes_nodeids")?,
            feature_ids: ints("nodes_featureids")?,
            modes: attributes.require("nodes_modes", attributes.strings("nodes_modes")?)?,
            values: attributes.require(
                "nodes_values",
                attributes.numbers("nodes_values", "nodes_values_as_tensor")?,
            )?,
            true_ids: ints("nodes_truenodeids")?,
            false_ids: ints("nodes_falsenodeids")?,
            missing_tracks_true: attributes.ints("nodes_missing_value_tracks_true")?,
        };
        let n = columns.tree_ids.len();
        let lengths = [
            ("nodes_nodeids", columns.node_ids.len()),
            ("nodes_featureids", columns.feature_ids.len()),
            ("nodes_modes", columns.modes.len()),
            ("nodes_values", columns.values.values.len()),
            ("nodes_truenodeids", columns.true_ids.len()),
            ("nodes_falsenodeids", columns.false_ids.len()),
            (
                "nodes_missing_value_tracks_true",
                columns.missing_tracks_true.map_or(n, <[i64]>::len),
            ),
        ];
        build::parallel("nodes_treeids", n, &lengths)?;
        if n == 0 {
            return Err(Error::invalid("the tree ensemble", "it has no nodes"));
        }
        Ok(columns)
    }
}

/// The `class_*` or `target_*` attributes, checked to be parallel.
struct WeightColumns<'a> {
    prefix: &'static str,
    tree_ids: &'a [i64],
    node_ids: &'a [i64],
    ids: &'a [i64],
    values: Numbers,
}

impl<'a> WeightColumns<'a> {
    fn read(attributes: &Attributes<'a>, prefix: &'static str) -> Result<Self, Error> {
        let ints = |name: String| attributes.ints(&name).map(Option::unwrap_or_default);
        let columns = Self {
            prefix,
            tree_ids: ints(format!("{prefix}_treeids"))?,
            node_ids: ints(format!("{prefix}_nodeids"))?,
            ids: ints(format!("{prefix}_ids"))?,
            values: attributes
                .numbers(
                    &format!("{prefix}_weights"),
                    &format!("{prefix}_weights_as_tensor"),
                )?
                .unwrap_or(Numbers {
                    values: Vec::new(),
                    declared: NumberType::F32,
                }),
        };
        let lengths = [
            (&*format!("{prefix}_nodeids"), columns.node_ids.len()),
            (&*format!("{prefix}_ids"), columns.ids.len()),
            (&*format!("{prefix}_weights"), columns.values.values.len()),
        ];
        build::parallel(
            &format!("{prefix}_treeids"),
            columns.tree_ids.len(),
            &lengths,
        )?;
        // Checked for every entry, those on splits included, because onnxruntime's choice of
        // binary rule looks at them all.
        if columns.values.values.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                format!("attribute `{prefix}_weights`"),
                "a weight is not a finite number",
            ));
        }
        Ok(columns)
    }

    /// Every id names a score column below `n`.
    fn check_ids(&self, op_type: &str, n: usize) -> Result<(), Error> {
        match self
            .ids
            .iter()
            .find(|id| usize::try_from(**id).map_or(true, |id| id >= n))
        {
            Some(id) => Err(Error::invalid(
                format!("attribute `{}_ids` of {op_type}", self.prefix),
                format!("it names output {id}, but there are {n}"),
            )),
            None => Ok(()),
        }
    }

    fn used_ids(&self) -> BTreeSet<i64> {
        self.ids.iter().copied().collect()
    }

    fn all_non_negative(&self) -> bool {
        self.values.values.iter().all(|v| *v >= 0.0)
    }
}

fn class_labels(attributes: &Attributes<'_>) -> Result<ClassLabels, Error> {
    let ints = attributes
        .ints("classlabels_int64s")?
        .filter(|l| !l.is_empty());
    let strings = attributes
        .strings("classlabels_strings")?
        .filter(|l| !l.is_empty());
    let labels = match (ints, strings) {
        (Some(ints), None) => ClassLabels::Int64(ints.to_vec()),
        (None, Some(strings)) => ClassLabels::Strings(strings),
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "the classifier's labels",
                "both classlabels_int64s and classlabels_strings are given",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
                "the classifier's labels",
                "classlabels_int64s or classlabels_strings is missing",
            ));
        }
    };
    if labels.len() < 2 {
        return Err(Error::unsupported(
            "a classifier with one class",
            "train the model on at least two classes",
        ));
    }
    if labels.len() > build::MAX_OUTPUTS {
        return Err(Error::unsupported(
            format!("a classifier with {} classes", labels.len()),
            format!("the importer serves up to {} classes", build::MAX_OUTPUTS),
        ));
    }
    let distinct = match &labels {
        ClassLabels::Int64(l) => l.iter().collect::<HashSet<_>>().len(),
        ClassLabels::Strings(l) => l.iter().collect::<HashSet<_>>().len(),
    };
    if distinct != labels.len() {
        return Err(Error::invalid(
            "the classifier's labels",
            "a label appears twice",
        ));
    }
    Ok(labels)
}

/// A binary classifier must keep one score column, as skl2onnx and onnxmltools write it: its
/// weights all name class 0 and hold the score of class 1. onnxruntime's other binary layouts
/// label rows by rules that contradict their own outputs, so they are refused.
fn binary_single_column(op_type: &str, weights: &WeightColumns<'_>) -> Result<usize, Error> {
    let used = weights.used_ids();
    if used.iter().eq([0].iter()) {
        return Ok(1);
    }
    Err(Error::unsupported(
        format!(
            "a binary {op_type} with weights for class {}",
            if used.contains(&0) {
                "0 and class 1"
            } else {
                "1 only"
            }
        ),
        "onnxruntime labels such a model by the sign of class 1's score (and answers 0 or 1 instead of the \
         labels), not by the larger probability; export it with skl2onnx or onnxmltools, which write one \
         score column for binary models",
    ))
}

fn class_scoring(
    op_type: &str,
    labels: &ClassLabels,
    weights: &WeightColumns<'_>,
    base_values: &[f64],
    post_transform: PostTransform,
) -> Result<ClassScoring, Error> {
    if labels.len() > 2 {
        return Ok(ClassScoring::PerClass);
    }
    if base_values.len() > 1 {
        return Err(Error::unsupported(
            format!("two base values of a binary {op_type}"),
            "onnxruntime then writes the second class's base value as its score; export the model with one base value",
        ));
    }
    match (weights.all_non_negative(), post_transform) {
        (true, PostTransform::None) => Ok(ClassScoring::BinaryProbability),
        (false, PostTransform::None | PostTransform::Logistic) => Ok(ClassScoring::BinaryMargin),
        (true, PostTransform::Logistic) => Err(Error::unsupported(
            format!("a binary {op_type} with post_transform LOGISTIC and no negative weight"),
            "onnxruntime then labels rows by `score > 0.5` before the transform, which disagrees with the \
             probabilities it writes; retrain or export the model so that its leaf values are margins",
        )),
        (_, transform) => Err(Error::unsupported(
            format!("post_transform {transform:?} of a binary {op_type}"),
            "onnxruntime ignores it for a one-column binary model; export it with NONE or LOGISTIC",
        )),
    }
}

/// Splits the node lists into trees and builds each.
fn read_trees(
    nodes: &NodeColumns<'_>,
    weights: &WeightColumns<'_>,
    declared_features: Option<usize>,
) -> Result<Vec<crate::ensemble::Tree>, Error> {
    let blocks = tree_blocks(nodes.tree_ids)?;
    let block_of_tree: HashMap<i64, usize> = blocks
        .iter()
        .enumerate()
        .map(|(b, (tree, _))| (*tree, b))
        .collect();
    let mut positions: Vec<HashMap<i64, usize>> = Vec::with_capacity(blocks.len());
    for (tree, range) in &blocks {
        let mut by_id = HashMap::with_capacity(range.len());
        for (position, global) in range.clone().enumerate() {
            if by_id.insert(nodes.node_ids[global], position).is_some() {
                return Err(Error::invalid(
                    format!("node {} of tree {tree}", nodes.node_ids[global]),
                    "its id appears twice in the tree",
                ));
            }
        }
        positions.push(by_id);
    }

    // Each leaf's weights, in file order.
    let mut leaf_weights: Vec<Vec<Vec<LeafWeight>>> = blocks
        .iter()
        .map(|(_, range)| vec![Vec::new(); range.len()])
        .collect();
    for k in 0..weights.tree_ids.len() {
        let (tree, node) = (weights.tree_ids[k], weights.node_ids[k]);
        let block = block_of_tree.get(&tree).copied();
        let Some((block, position)) = block.and_then(|b| positions[b].get(&node).map(|p| (b, *p)))
        else {
            return Err(Error::invalid(
                format!("attribute `{}_nodeids`", weights.prefix),
                format!("entry {k} names node {node} of tree {tree}, which does not exist"),
            ));
        };
        // onnxruntime ignores weights on splits (old onnxmltools wrote some).
        if nodes.modes[blocks[block].1.start + position] == "LEAF" {
            let output = usize::try_from(weights.ids[k]).unwrap_or_default();
            leaf_weights[block][position].push(LeafWeight {
                output,
                value: weights.values.values[k],
            });
        }
    }

    let mut trees = Vec::with_capacity(blocks.len());
    for (((tree, range), by_id), mut weights) in
        blocks.into_iter().zip(&positions).zip(leaf_weights)
    {
        let table = range
            .clone()
            .enumerate()
            .map(|(position, global)| {
                raw_node(
                    nodes,
                    tree,
                    global,
                    by_id,
                    std::mem::take(&mut weights[position]),
                    declared_features,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut claimed = vec![false; table.len()];
        trees.push(build::build_tree(
            tree,
            &table,
            0,
            &mut claimed,
            SharedLeaves::Refused,
        )?);
        if let Some(unreached) = claimed.iter().position(|claimed| !claimed) {
            return Err(Error::invalid(
                format!(
                    "node {} of tree {tree}",
                    nodes.node_ids[range.start + unreached]
                ),
                "it cannot be reached from the tree's root (the tree's first node in the list)",
            ));
        }
    }
    Ok(trees)
}

/// The runs of consecutive entries with one tree id; a tree id may not come back later.
fn tree_blocks(tree_ids: &[i64]) -> Result<Vec<(i64, Range<usize>)>, Error> {
    let mut blocks: Vec<(i64, Range<usize>)> = Vec::new();
    let mut seen = HashSet::new();
    for (index, tree) in tree_ids.iter().enumerate() {
        match blocks.last_mut() {
            Some((current, range)) if current == tree => range.end = index + 1,
            _ => {
                if !seen.insert(*tree) {
                    return Err(Error::invalid(
                        format!("tree {tree}"),
                        "its nodes are not listed together; onnxruntime would read it as two trees",
                    ));
                }
                blocks.push((*tree, index..index + 1));
            }
        }
    }
    Ok(blocks)
}

fn raw_node(
    nodes: &NodeColumns<'_>,
    tree: i64,
    global: usize,
    by_id: &HashMap<i64, usize>,
    weights: Vec<LeafWeight>,
    declared_features: Option<usize>,
) -> Result<RawNode, Error> {
    let onnx_node_id = nodes.node_ids[global];
    let what = || format!("node {onnx_node_id} of tree {tree}");
    let mode = match nodes.modes[global].as_str() {
        "LEAF" => {
            return Ok(RawNode::Leaf {
                onnx_node_id,
                weights: build::leaf_weights(what, weights)?,
            });
        }
        "BRANCH_LEQ" => Mode::Leq,
        "BRANCH_LT" => Mode::Lt,
        "BRANCH_GTE" => Mode::Gte,
        "BRANCH_GT" => Mode::Gt,
        mode @ ("BRANCH_EQ" | "BRANCH_NEQ") => {
            return Err(Error::unsupported(
                format!("node mode {mode} ({})", what()),
                "equality splits come from categorical features; one-hot encode the category before training, \
                 or train LightGBM without categorical_feature",
            ));
        }
        other => {
            return Err(Error::invalid(
                what(),
                format!("its mode `{other}` is not an ONNX node mode"),
            ));
        }
    };
    let child = |id: i64| {
        by_id.get(&id).copied().ok_or_else(|| {
            Error::invalid(
                what(),
                format!("it points at node {id}, which tree {tree} does not have"),
            )
        })
    };
    let missing_tracks_true =
        build::missing_tracks_true(what, nodes.missing_tracks_true.map_or(0, |m| m[global]))?;
    Ok(RawNode::Split {
        onnx_node_id,
        feature: build::feature_index(what, nodes.feature_ids[global], declared_features)?,
        threshold: build::threshold(what, nodes.values.values[global])?,
        mode,
        missing_tracks_true,
        true_child: child(nodes.true_ids[global])?,
        false_child: child(nodes.false_ids[global])?,
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::{
        Model, NodeRow, STUMP, assert_refused, classifier, double_tensor, floats, int, ints, read,
        regressor, string, tensor,
    };
    use crate::{Node, ReferenceOutput};

    const WEIGHTS: &[(i64, i64, i64, f32)] = &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)];

    #[test]
    fn node_ids_may_be_sparse_unordered_and_restart_per_tree() {
        // Tree 4 lists its root first, then nodes 9, 2, 7, 30 in an order that is not a walk;
        // tree 1 reuses the ids 0..2.
        let nodes: &[NodeRow] = &[
            (4, 5, 0, "BRANCH_LEQ", 0.5, 9, 7, 0),
            (4, 9, 0, "LEAF", 0.0, 0, 0, 0),
            (4, 2, 0, "LEAF", 0.0, 0, 0, 0),
            (4, 7, 1, "BRANCH_LT", 0.0, 2, 30, 0),
            (4, 30, 0, "LEAF", 0.0, 0, 0, 0),
            (1, 0, 1, "BRANCH_LEQ", 1.0, 1, 2, 0),
            (1, 1, 0, "LEAF", 0.0, 0, 0, 0),
            (1, 2, 0, "LEAF", 0.0, 0, 0, 0),
        ];
        let weights = [
            (4, 9, 0, 1.0),
            (4, 2, 0, 10.0),
            (4, 30, 0, 100.0),
            (1, 1, 0, 0.5),
            (1, 2, 0, 0.25),
        ];
        let ensemble = read(regressor(nodes, &weights, 1, vec![])).expect("reads");
        assert_eq!(
            ensemble
                .trees
                .iter()
                .map(|t| t.onnx_tree_id)
                .collect::<Vec<_>>(),
            [4, 1]
        );
        let evaluate = |x: [f64; 2]| ensemble.evaluate(&x).expect("two features");
        assert_eq!(evaluate([0.0, 0.0]), ReferenceOutput::Values(vec![1.5]));
        assert_eq!(evaluate([1.0, -1.0]), ReferenceOutput::Values(vec![10.5]));
        assert_eq!(evaluate([1.0, 2.0]), ReferenceOutput::Values(vec![100.25]));
    }

    #[test]
    fn weights_on_splits_are_ignored_as_onnxruntime_does() {
        let weights = [(0, 0, 0, 50.0), (0, 1, 0, 1.0), (0, 2, 0, 2.0)];
        let ensemble = read(regressor(STUMP, &weights, 1, vec![])).expect("reads");
        assert!(matches!(&ensemble.trees[0].nodes[0], Node::Split(_)));
        assert_eq!(
            ensemble.evaluate(&[0.0, 0.0]),
            Ok(ReferenceOutput::Values(vec![1.0]))
        );
    }

    #[test]
    fn unsupported_node_modes_aggregates_and_transforms_are_refused_by_name() {
        let mut equal = STUMP.to_vec();
        equal[0].3 = "BRANCH_EQ";
        assert_refused(
            read(regressor(&equal, WEIGHTS, 1, vec![])),
            &["node mode BRANCH_EQ", "node 0 of tree 0", "one-hot"],
        );
        let mut unknown = STUMP.to_vec();
        unknown[0].3 = "BRANCH_SOMETIMES";
        assert_refused(
            read(regressor(&unknown, WEIGHTS, 1, vec![])),
            &["`BRANCH_SOMETIMES`", "not an ONNX node mode"],
        );
        for aggregate in ["MIN", "MAX"] {
            let extra = vec![string("aggregate_function", aggregate)];
            assert_refused(
                read(regressor(STUMP, WEIGHTS, 1, extra)),
                &[&format!("aggregate_function {aggregate}"), "SUM"],
            );
        }
        for transform in ["SOFTMAX_ZERO", "PROBIT"] {
            let extra = vec![string("post_transform", transform)];
            assert_refused(
                read(classifier(STUMP, WEIGHTS, &[1, 2, 3], extra)),
                &[
                    &format!("post_transform {transform}"),
                    "NONE, LOGISTIC and SOFTMAX",
                ],
            );
        }
        let extra = vec![string("post_transform", "LOGISTIC")];
        assert_refused(
            read(regressor(STUMP, WEIGHTS, 1, extra)),
            &["one-target TreeEnsembleRegressor", "ignores it"],
        );
    }

    #[test]
    fn binary_layouts_onnxruntime_mislabels_are_refused() {
        let both = [
            (0, 1, 0, 0.75),
            (0, 1, 1, 0.25),
            (0, 2, 0, 0.25),
            (0, 2, 1, 0.75),
        ];
        assert_refused(
            read(classifier(STUMP, &both, &[0, 1], vec![])),
            &["weights for class 0 and class 1", "sign of class 1's score"],
        );
        let second = [(0, 1, 1, 0.25), (0, 2, 1, 0.75)];
        assert_refused(
            read(classifier(STUMP, &second, &[0, 1], vec![])),
            &["weights for class 1 only"],
        );
        let extra = vec![string("post_transform", "LOGISTIC")];
        assert_refused(
            read(classifier(
                STUMP,
                &[(0, 1, 0, 0.25), (0, 2, 0, 0.75)],
                &[0, 1],
                extra,
            )),
            &["LOGISTIC and no negative weight"],
        );
        let extra = vec![floats("base_values", &[0.1, 0.2])];
        assert_refused(
            read(classifier(
                STUMP,
                &[(0, 1, 0, -0.25), (0, 2, 0, 0.75)],
                &[0, 1],
                extra,
            )),
            &["two base values"],
        );
        assert_refused(
            read(classifier(
                STUMP,
                &[(0, 1, 0, 1.0), (0, 2, 0, 1.0)],
                &[7],
                vec![],
            )),
            &["one class"],
        );
    }

    #[test]
    fn leaves_without_or_with_repeated_weights_are_refused() {
        assert_refused(
            read(regressor(STUMP, &[(0, 1, 0, 1.0)], 1, vec![])),
            &["node 2 of tree 0", "no weight"],
        );
        let twice = [(0, 1, 0, 1.0), (0, 1, 0, 1.0), (0, 2, 0, 2.0)];
        assert_refused(
            read(regressor(STUMP, &twice, 1, vec![])),
            &["node 1 of tree 0", "two weights for output 0"],
        );
        assert_refused(
            read(regressor(
                STUMP,
                &[(0, 1, 0, 1.0), (0, 2, 0, f32::NAN)],
                1,
                vec![],
            )),
            &["`target_weights`", "not a finite number"],
        );
        assert_refused(
            read(regressor(
                STUMP,
                &[(0, 1, 0, 1.0), (0, 2, 1, 2.0)],
                1,
                vec![],
            )),
            &["target_ids", "names output 1"],
        );
        assert_refused(
            read(regressor(
                STUMP,
                &[(0, 1, 0, 1.0), (0, 7, 0, 2.0)],
                1,
                vec![],
            )),
            &["node 7 of tree 0, which does not exist"],
        );
    }

    #[test]
    fn broken_tree_structures_are_refused() {
        // Tree 0's nodes are split by tree 1's.
        let split_up: &[NodeRow] = &[
            STUMP[0],
            STUMP[1],
            (1, 0, 0, "LEAF", 0.0, 0, 0, 0),
            STUMP[2],
        ];
        let weights = [(0, 1, 0, 1.0), (0, 2, 0, 2.0), (1, 0, 0, 3.0)];
        assert_refused(
            read(regressor(split_up, &weights, 1, vec![])),
            &["tree 0", "not listed together"],
        );
        let mut unreachable = STUMP.to_vec();
        unreachable.push((0, 3, 0, "LEAF", 0.0, 0, 0, 0));
        let weights = [(0, 1, 0, 1.0), (0, 2, 0, 2.0), (0, 3, 0, 3.0)];
        assert_refused(
            read(regressor(&unreachable, &weights, 1, vec![])),
            &["node 3 of tree 0", "cannot be reached"],
        );
        let mut dangling = STUMP.to_vec();
        dangling[0].6 = 8;
        assert_refused(
            read(regressor(&dangling, WEIGHTS, 1, vec![])),
            &["points at node 8"],
        );
        let mut duplicate = STUMP.to_vec();
        duplicate[2].1 = 1;
        assert_refused(
            read(regressor(&duplicate, WEIGHTS, 1, vec![])),
            &["node 1 of tree 0", "appears twice"],
        );
        let mut missing_flag = STUMP.to_vec();
        missing_flag[0].7 = 2;
        assert_refused(
            read(regressor(&missing_flag, WEIGHTS, 1, vec![])),
            &["nodes_missing_value_tracks_true is 2"],
        );
        let mut infinite = STUMP.to_vec();
        infinite[0].4 = f32::INFINITY;
        assert_refused(
            read(regressor(&infinite, WEIGHTS, 1, vec![])),
            &["threshold is not a finite number"],
        );
    }

    #[test]
    fn inconsistent_attributes_are_refused() {
        let mut node = regressor(STUMP, WEIGHTS, 1, vec![]);
        node.attribute
            .retain(|a| a.name.as_deref() != Some("nodes_featureids"));
        node.attribute.push(ints("nodes_featureids", &[0, 0]));
        assert_refused(
            read(node),
            &[
                "`nodes_featureids`",
                "2 entries where `nodes_treeids` has 3",
            ],
        );
        assert_refused(
            read(regressor(
                STUMP,
                WEIGHTS,
                1,
                vec![floats("base_values", &[1.0, 2.0])],
            )),
            &["base_values", "2 values for 1 outputs"],
        );
        assert_refused(
            read(regressor(STUMP, WEIGHTS, 0, vec![])),
            &["n_targets", "0 is not between 1"],
        );
        assert_refused(
            read(regressor(STUMP, WEIGHTS, 1, vec![int("nodes_colour", 3)])),
            &["attribute `nodes_colour`", "not an attribute"],
        );
        let mut missing = regressor(STUMP, WEIGHTS, 1, vec![]);
        missing
            .attribute
            .retain(|a| a.name.as_deref() != Some("nodes_modes"));
        assert_refused(read(missing), &["`nodes_modes`", "missing"]);
        let labels_twice = classifier(STUMP, WEIGHTS, &[3, 3, 4], vec![]);
        assert_refused(read(labels_twice), &["labels", "appears twice"]);
    }

    #[test]
    fn double_attributes_need_a_double_input() {
        let mut node = regressor(STUMP, WEIGHTS, 1, vec![]);
        node.attribute
            .retain(|a| a.name.as_deref() != Some("nodes_values"));
        node.attribute.push(tensor(
            "nodes_values_as_tensor",
            double_tensor(&[0.5, 0.0, 0.0]),
        ));
        assert_refused(
            Model::new(vec![node]).read(),
            &["double attributes", "float input", "double input"],
        );
    }
}
