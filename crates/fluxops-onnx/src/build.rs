//! What the two attribute layouts (`v3` and `v5`) share: nodes as the file describes them, the
//! walk that puts a tree into canonical order, and onnxruntime's rules for transforms and
//! aggregation.

use std::collections::BTreeSet;

use crate::Error;
use crate::attributes::Attributes;
use crate::ensemble::{Aggregate, Comparison, LeafWeight, Node, PostTransform, Split, Tree};

/// The comparison of a split as the file states it.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
}

/// A node as the file describes it, its children given as positions in the same table.
pub(crate) enum RawNode {
    Split {
        onnx_node_id: i64,
        feature: usize,
        threshold: f64,
        mode: Mode,
        missing_tracks_true: bool,
        true_child: usize,
        false_child: usize,
    },
    Leaf {
        onnx_node_id: i64,
        weights: Vec<LeafWeight>,
    },
}

/// Whether a leaf may be reached from more than one split.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SharedLeaves {
    /// The classic operators: onnxruntime refuses a node with two parents.
    Refused,
    /// `TreeEnsemble`: onnxruntime copies the leaf for each parent, and so does the importer.
    Copied,
}

/// Builds tree `onnx_tree_id` from `table`, starting at `root`, in depth-first order with the true
/// branch first, so that children come after their parents. A split node can be placed once:
/// `claimed` records the positions already placed (across trees when the table is shared), and a
/// second visit (two parents, or a cycle) is refused. The walk uses its own stack, so a deep tree
/// cannot overflow the thread's.
pub(crate) fn build_tree(
    onnx_tree_id: i64,
    table: &[RawNode],
    root: usize,
    claimed: &mut [bool],
    shared_leaves: SharedLeaves,
) -> Result<Tree, Error> {
    let mut nodes: Vec<Node> = Vec::new();
    // (position in `table`, the parent's index in `nodes` and whether this is its true child)
    let mut stack = vec![(root, None)];
    while let Some((position, parent)) = stack.pop() {
        let index = nodes.len();
        let raw = &table[position];
        let copy = matches!(raw, RawNode::Leaf { .. }) && shared_leaves == SharedLeaves::Copied;
        if !copy {
            if claimed[position] {
                return Err(Error::invalid(
                    format!("node {} of tree {onnx_tree_id}", raw.onnx_node_id()),
                    "it is reached twice (two parents, or a cycle); each node needs exactly one parent",
                ));
            }
            claimed[position] = true;
        }
        if let Some((parent, is_true)) = parent
            && let Some(Node::Split(split)) = nodes.get_mut(parent)
        {
            if is_true {
                split.true_child = index;
            } else {
                split.false_child = index;
            }
        }
        match raw {
            RawNode::Split {
                onnx_node_id,
                feature,
                threshold,
                mode,
                missing_tracks_true,
                true_child,
                false_child,
            } => {
                // `x > t` is `!(x <= t)` except for NaN, which compares false both ways: swapping
                // the children and the missing direction keeps every row's path.
                let (comparison, swap) = match mode {
                    Mode::Leq => (Comparison::LessOrEqual, false),
                    Mode::Lt => (Comparison::Less, false),
                    Mode::Gt => (Comparison::LessOrEqual, true),
                    Mode::Gte => (Comparison::Less, true),
                };
                let (on_true, on_false) = if swap {
                    (*false_child, *true_child)
                } else {
                    (*true_child, *false_child)
                };
                nodes.push(Node::Split(Split {
                    onnx_node_id: *onnx_node_id,
                    feature: *feature,
                    threshold: *threshold,
                    comparison,
                    missing_tracks_true: *missing_tracks_true != swap,
                    true_child: 0,
                    false_child: 0,
                }));
                // Popped in reverse: the true branch is laid out first.
                stack.push((on_false, Some((index, false))));
                stack.push((on_true, Some((index, true))));
            }
            RawNode::Leaf {
                onnx_node_id,
                weights,
            } => {
                nodes.push(Node::Leaf(crate::ensemble::Leaf {
                    onnx_node_id: *onnx_node_id,
                    weights: weights.clone(),
                }));
            }
        }
    }
    Ok(Tree {
        onnx_tree_id,
        nodes,
    })
}

impl RawNode {
    fn onnx_node_id(&self) -> i64 {
        match self {
            Self::Split { onnx_node_id, .. } | Self::Leaf { onnx_node_id, .. } => *onnx_node_id,
        }
    }
}

/// Attributes that describe one thing per entry must have as many entries as `first`.
pub(crate) fn parallel(first: &str, n: usize, others: &[(&str, usize)]) -> Result<(), Error> {
    match others.iter().find(|(_, length)| *length != n) {
        Some((name, length)) => Err(Error::invalid(
            format!("attribute `{name}`"),
            format!("it has {length} entries where `{first}` has {n}; the lists must be parallel"),
        )),
        None => Ok(()),
    }
}

/// The most score columns an ensemble may have: enough for any real classifier or regressor,
/// and a bound on what evaluating one row allocates.
pub(crate) const MAX_OUTPUTS: usize = 1 << 16;

/// A regressor's `n_targets`: given, and between 1 and [`MAX_OUTPUTS`].
pub(crate) fn n_targets(attributes: &Attributes<'_>, op_type: &str) -> Result<usize, Error> {
    let n_targets = attributes.require("n_targets", attributes.int("n_targets")?)?;
    usize::try_from(n_targets)
        .ok()
        .filter(|n| (1..=MAX_OUTPUTS).contains(n))
        .ok_or_else(|| {
            Error::invalid(
                format!("attribute `n_targets` of {op_type}"),
                format!("{n_targets} is not between 1 and {MAX_OUTPUTS}"),
            )
        })
}

/// A split's `nodes_missing_value_tracks_true` entry: 0 or 1.
pub(crate) fn missing_tracks_true(what: impl Fn() -> String, flag: i64) -> Result<bool, Error> {
    match flag {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::invalid(
            what(),
            format!("nodes_missing_value_tracks_true is {other}, expected 0 or 1"),
        )),
    }
}

/// A leaf's weights, checked: at least one, finite, each output once.
pub(crate) fn leaf_weights(
    what: impl Fn() -> String,
    weights: Vec<LeafWeight>,
) -> Result<Vec<LeafWeight>, Error> {
    if weights.is_empty() {
        return Err(Error::unsupported(
            what(),
            "the leaf has no weight (onnxruntime's answer for it depends on the output count); \
             export the model with a weight on every leaf",
        ));
    }
    let mut outputs = BTreeSet::new();
    for weight in &weights {
        if !weight.value.is_finite() {
            return Err(Error::invalid(
                what(),
                "a weight of it is not a finite number",
            ));
        }
        if !outputs.insert(weight.output) {
            return Err(Error::unsupported(
                what(),
                format!(
                    "the leaf has two weights for output {}, which onnxruntime adds or drops depending \
                     on the output count; export the model with one weight per output",
                    weight.output
                ),
            ));
        }
    }
    Ok(weights)
}

/// A split's feature index: not negative, below the declared feature count when there is one,
/// and small enough for onnxruntime (which keeps it in an `int`).
pub(crate) fn feature_index(
    what: impl Fn() -> String,
    feature: i64,
    declared: Option<usize>,
) -> Result<usize, Error> {
    let index = usize::try_from(feature)
        .ok()
        .filter(|index| i32::try_from(*index).is_ok())
        .ok_or_else(|| {
            Error::invalid(
                what(),
                format!("it reads feature {feature}, which is not a feature index"),
            )
        })?;
    match declared {
        Some(n_features) if index >= n_features => Err(Error::invalid(
            what(),
            format!("it reads feature {index}, but the model's input has {n_features} features"),
        )),
        _ => Ok(index),
    }
}

/// A split's threshold: finite.
pub(crate) fn threshold(what: impl Fn() -> String, value: f64) -> Result<f64, Error> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::invalid(
            what(),
            "its threshold is not a finite number",
        ))
    }
}

/// Base values: empty or one finite value per output.
pub(crate) fn base_values(
    op_type: &str,
    values: Vec<f64>,
    n_outputs: usize,
) -> Result<Vec<f64>, Error> {
    if !values.is_empty() && values.len() != n_outputs {
        return Err(Error::invalid(
            format!("attribute `base_values` of {op_type}"),
            format!("it has {} values for {n_outputs} outputs", values.len()),
        ));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            format!("attribute `base_values` of {op_type}"),
            "a value is not a finite number",
        ));
    }
    Ok(values)
}

/// A post-transform by its ONNX name. onnxruntime reads any unknown name as `PROBIT`, so unknown
/// names are refused rather than guessed.
pub(crate) fn post_transform(op_type: &str, name: &str) -> Result<PostTransform, Error> {
    match name {
        "NONE" => Ok(PostTransform::None),
        "LOGISTIC" => Ok(PostTransform::Logistic),
        "SOFTMAX" => Ok(PostTransform::Softmax),
        "SOFTMAX_ZERO" | "PROBIT" => Err(Error::unsupported(
            format!("post_transform {name} of {op_type}"),
            "the importer reproduces NONE, LOGISTIC and SOFTMAX exactly; export the model with one of those",
        )),
        other => Err(Error::invalid(
            format!("post_transform `{other}` of {op_type}"),
            "it is not an ONNX post-transform",
        )),
    }
}

/// An aggregate function by its ONNX name.
pub(crate) fn aggregate(op_type: &str, name: &str) -> Result<Aggregate, Error> {
    match name {
        "SUM" => Ok(Aggregate::Sum),
        "AVERAGE" => Ok(Aggregate::Average),
        "MIN" | "MAX" => Err(Error::unsupported(
            format!("aggregate_function {name} of {op_type}"),
            "the importer serves ensembles that add (SUM) or average (AVERAGE) their trees",
        )),
        other => Err(Error::invalid(
            format!("aggregate_function `{other}` of {op_type}"),
            "it is not an ONNX aggregate function",
        )),
    }
}

/// A regressor's post-transform, as onnxruntime applies it: with one target it applies none
/// but PROBIT, so LOGISTIC and SOFTMAX there would be silently ignored.
pub(crate) fn regressor_post_transform(
    op_type: &str,
    transform: PostTransform,
    n_targets: usize,
) -> Result<PostTransform, Error> {
    if n_targets == 1 && transform != PostTransform::None {
        return Err(Error::unsupported(
            format!("post_transform {transform:?} of a one-target {op_type}"),
            "onnxruntime ignores it for a single target, so the model's outputs are not what it says; \
             export the model with post_transform NONE",
        ));
    }
    Ok(transform)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(id: i64, value: f64) -> RawNode {
        RawNode::Leaf {
            onnx_node_id: id,
            weights: vec![LeafWeight { output: 0, value }],
        }
    }

    fn split(id: i64, mode: Mode, true_child: usize, false_child: usize) -> RawNode {
        RawNode::Split {
            onnx_node_id: id,
            feature: 0,
            threshold: 0.5,
            mode,
            missing_tracks_true: false,
            true_child,
            false_child,
        }
    }

    #[test]
    fn trees_come_out_in_preorder_whatever_the_file_order() {
        // File order: leaf, leaf, root, split, leaf; the root is at position 2.
        let table = [
            leaf(7, 1.0),
            leaf(8, 2.0),
            split(0, Mode::Leq, 3, 0),
            split(4, Mode::Lt, 1, 4),
            leaf(9, 3.0),
        ];
        let tree =
            build_tree(5, &table, 2, &mut [false; 5], SharedLeaves::Refused).expect("a tree");
        let ids: Vec<i64> = tree
            .nodes
            .iter()
            .map(|node| match node {
                Node::Split(split) => split.onnx_node_id,
                Node::Leaf(leaf) => leaf.onnx_node_id,
            })
            .collect();
        assert_eq!(ids, [0, 4, 8, 9, 7]);
        let Node::Split(root) = &tree.nodes[0] else {
            panic!("root is a split")
        };
        assert_eq!((root.true_child, root.false_child), (1, 4));
    }

    #[test]
    fn greater_than_splits_become_less_or_equal_with_swapped_children() {
        let table = [
            RawNode::Split {
                onnx_node_id: 0,
                feature: 0,
                threshold: 0.5,
                mode: Mode::Gt,
                missing_tracks_true: false,
                true_child: 1,
                false_child: 2,
            },
            leaf(1, 10.0),
            leaf(2, 20.0),
        ];
        let tree =
            build_tree(0, &table, 0, &mut [false; 3], SharedLeaves::Refused).expect("a tree");
        let Node::Split(root) = &tree.nodes[0] else {
            panic!("root is a split")
        };
        assert_eq!(root.comparison, Comparison::LessOrEqual);
        // NaN went to the false child (leaf 2) and still does: it is now the true child.
        assert!(root.missing_tracks_true);
        let Node::Leaf(on_true) = &tree.nodes[root.true_child] else {
            panic!("a leaf")
        };
        assert_eq!(on_true.onnx_node_id, 2);
    }

    #[test]
    fn shared_nodes_and_cycles_are_refused_and_shared_leaves_copied_when_allowed() {
        let shared_leaf = [split(0, Mode::Leq, 1, 1), leaf(1, 1.0)];
        assert!(build_tree(0, &shared_leaf, 0, &mut [false; 2], SharedLeaves::Refused).is_err());
        let copied =
            build_tree(0, &shared_leaf, 0, &mut [false; 2], SharedLeaves::Copied).expect("copied");
        assert_eq!(copied.nodes.len(), 3);

        let cycle = [
            split(0, Mode::Leq, 1, 2),
            split(1, Mode::Leq, 0, 2),
            leaf(2, 1.0),
        ];
        let error =
            build_tree(0, &cycle, 0, &mut [false; 3], SharedLeaves::Copied).expect_err("cycle");
        assert!(error.to_string().contains("reached twice"), "{error}");
    }

    #[test]
    fn a_very_deep_tree_does_not_overflow_the_stack() {
        let depth = 200_000;
        let mut table: Vec<RawNode> = (0..depth)
            .map(|i| split(i as i64, Mode::Leq, i + 1, depth + 1 + i))
            .collect();
        table.push(leaf(depth as i64, 0.0));
        table.extend((0..depth).map(|i| leaf((depth + 1 + i) as i64, 1.0)));
        let tree = build_tree(
            0,
            &table,
            0,
            &mut vec![false; table.len()],
            SharedLeaves::Refused,
        )
        .expect("deep");
        assert_eq!(tree.nodes.len(), table.len());
    }
}
