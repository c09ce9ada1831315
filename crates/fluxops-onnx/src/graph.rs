//! Finds the one tree-ensemble operator of a graph and accounts for every other node as the
//! plumbing exporters put around it: `Cast` and `Identity` in front; `Identity`, `Cast`,
//! `ZipMap` and a multiplication by one behind. Anything else is refused by name.

use std::collections::HashMap;

use crate::Error;
use crate::attributes::tensor_floats;
use crate::ensemble::{Input, NumberType, Operator, Opset, Output, OutputKind};
use crate::proto::{GraphProto, ModelProto, NodeProto, data_type};

/// The `ai.onnx.ml` domain of the tree ensembles and `ZipMap`.
pub(crate) const ML_DOMAIN: &str = "ai.onnx.ml";
/// The newest `ai.onnx.ml` opset whose tree operators this importer knows.
const NEWEST_ML_OPSET: i64 = 5;

/// The tree operator and what surrounds it.
pub(crate) struct Site<'a> {
    pub node: &'a NodeProto,
    pub operator: Operator,
    pub opsets: Vec<Opset>,
    pub ml_opset: i64,
    pub input: Input,
    /// The element type at the tree operator's input.
    pub precision: NumberType,
    /// The graph outputs and what each carries.
    pub outputs: Vec<Output>,
}

/// Finds the tree operator of `model` and checks every other node is plumbing.
pub(crate) fn locate(model: &ModelProto) -> Result<Site<'_>, Error> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::invalid("the model", "it has no graph"))?;
    let opsets: Vec<Opset> = model
        .opset_import
        .iter()
        .map(|o| Opset {
            domain: o.domain.clone().unwrap_or_default(),
            version: o.version.unwrap_or_default(),
        })
        .collect();
    let ml_opset = opsets
        .iter()
        .filter(|o| o.domain == ML_DOMAIN)
        .map(|o| o.version)
        .max()
        .ok_or_else(|| {
            Error::invalid(
                "the model",
                "it does not import the ai.onnx.ml opset that tree ensembles belong to",
            )
        })?;
    if ml_opset > NEWEST_ML_OPSET {
        return Err(Error::unsupported(
            format!("ai.onnx.ml opset {ml_opset}"),
            format!(
                "this importer knows the tree operators up to opset {NEWEST_ML_OPSET}; export with target opset {NEWEST_ML_OPSET} or lower"
            ),
        ));
    }

    let (tree_index, operator) = find_tree_node(graph, ml_opset)?;
    let node = &graph.node[tree_index];
    let producers = producers(graph)?;
    let mut used = vec![false; graph.node.len()];
    used[tree_index] = true;

    let (input, precision) = trace_input(graph, node, &producers, &mut used)?;
    let outputs = graph
        .output
        .iter()
        .map(|output| {
            trace_output(
                graph,
                tree_index,
                operator,
                output.name.as_deref().unwrap_or_default(),
                &producers,
                &mut used,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    if outputs.is_empty() {
        return Err(Error::invalid("the model", "its graph has no outputs"));
    }
    if let Some(unused) = used.iter().position(|used| !used) {
        return Err(unsupported_node(
            &graph.node[unused],
            "beside the tree ensemble",
        ));
    }
    Ok(Site {
        node,
        operator,
        opsets,
        ml_opset,
        input,
        precision,
        outputs,
    })
}

fn find_tree_node(graph: &GraphProto, ml_opset: i64) -> Result<(usize, Operator), Error> {
    let mut found = Vec::new();
    for (index, node) in graph.node.iter().enumerate() {
        if node.domain.as_deref() != Some(ML_DOMAIN) {
            continue;
        }
        let operator = match node.op_type.as_deref().unwrap_or_default() {
            "TreeEnsembleClassifier" => Operator::TreeEnsembleClassifier,
            "TreeEnsembleRegressor" => Operator::TreeEnsembleRegressor,
            "TreeEnsemble" => Operator::TreeEnsemble,
            _ => continue,
        };
        found.push((index, operator));
    }
    match found[..] {
        [] => Err(Error::unsupported(
            "a model without a tree ensemble",
            "the importer reads models whose trees are in one ai.onnx.ml TreeEnsembleClassifier, \
             TreeEnsembleRegressor or TreeEnsemble operator",
        )),
        [(_, Operator::TreeEnsemble)] if ml_opset < 5 => Err(Error::invalid(
            "operator TreeEnsemble",
            format!("it exists from ai.onnx.ml opset 5 on, and the model imports opset {ml_opset}"),
        )),
        [single] => Ok(single),
        _ => Err(Error::unsupported(
            format!("a model with {} tree-ensemble operators", found.len()),
            "export one ensemble per model (a stacked or per-class set of ensembles cannot be served as one)",
        )),
    }
}

/// Which node produces each value.
fn producers(graph: &GraphProto) -> Result<HashMap<&str, usize>, Error> {
    let mut producers = HashMap::new();
    for (index, node) in graph.node.iter().enumerate() {
        for output in &node.output {
            if !output.is_empty() && producers.insert(output.as_str(), index).is_some() {
                return Err(Error::invalid(
                    format!("value `{output}`"),
                    "two nodes produce it",
                ));
            }
        }
    }
    Ok(producers)
}

fn op_type(node: &NodeProto) -> &str {
    node.op_type.as_deref().unwrap_or_default()
}

/// Whether `node` is the standard operator `name`.
fn is_standard(node: &NodeProto, name: &str) -> bool {
    matches!(node.domain.as_deref(), None | Some("" | "ai.onnx")) && op_type(node) == name
}

fn unsupported_node(node: &NodeProto, place: &str) -> Error {
    let domain = node
        .domain
        .as_deref()
        .filter(|d| !d.is_empty())
        .unwrap_or("ai.onnx");
    Error::unsupported(
        format!("operator `{}` ({domain}) {place}", op_type(node)),
        "the importer serves a tree ensemble alone; export the model without this step \
         (a scaler or imputer can be folded into the data you send), or apply it before calling the model",
    )
}

/// The type a `Cast` converts to, if it is float or double.
fn cast_target(node: &NodeProto) -> Option<NumberType> {
    let to = node
        .attribute
        .iter()
        .find(|a| a.name.as_deref() == Some("to"))?
        .i?;
    match i32::try_from(to).ok()? {
        data_type::FLOAT => Some(NumberType::F32),
        data_type::DOUBLE => Some(NumberType::F64),
        _ => None,
    }
}

/// Follows the tree operator's input back to the graph input through `Cast` and `Identity`.
fn trace_input(
    graph: &GraphProto,
    tree: &NodeProto,
    producers: &HashMap<&str, usize>,
    used: &mut [bool],
) -> Result<(Input, NumberType), Error> {
    let tree_name = op_type(tree);
    let [first] = &tree.input[..] else {
        return Err(Error::invalid(
            format!("operator {tree_name}"),
            format!("it has {} inputs, expected one", tree.input.len()),
        ));
    };
    let initializers: Vec<&str> = graph
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    let graph_inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_deref().unwrap_or_default()))
        .collect();
    let [graph_input] = graph_inputs[..] else {
        return Err(Error::unsupported(
            format!("a model with {} inputs", graph_inputs.len()),
            "the importer serves models with one [rows, features] float input; export the model with a single input",
        ));
    };
    let input_name = graph_input.name.as_deref().unwrap_or_default();

    // Casts seen walking back from the tree operator towards the input.
    let mut casts = Vec::new();
    let mut value = first.as_str();
    while value != input_name {
        let Some(&index) = producers.get(value) else {
            return Err(Error::unsupported(
                format!("the input of {tree_name}"),
                format!("it is the constant `{value}`, not the model's input"),
            ));
        };
        let node = &graph.node[index];
        if used[index] {
            return Err(Error::invalid(
                format!("value `{value}`"),
                "the values it depends on form a cycle",
            ));
        }
        used[index] = true;
        if is_standard(node, "Cast") {
            casts.push(cast_target(node).ok_or_else(|| {
                Error::unsupported(
                    "a `Cast` before the tree ensemble to a type other than float or double",
                    "export the model with a float input",
                )
            })?);
        } else if !is_standard(node, "Identity") {
            return Err(unsupported_node(node, "before the tree ensemble"));
        }
        value = node.input.first().map(String::as_str).unwrap_or_default();
    }

    let tensor_type = graph_input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| {
            Error::unsupported(
                format!("input `{input_name}`"),
                "it is not a tensor; export the model with a [rows, features] float input",
            )
        })?;
    let element_type = match tensor_type.elem_type.unwrap_or_default() {
        data_type::FLOAT => NumberType::F32,
        data_type::DOUBLE => NumberType::F64,
        other => {
            return Err(Error::unsupported(
                format!("input `{input_name}` of type {}", data_type::name(other)),
                "the importer reads float and double inputs; export the model with a float input",
            ));
        }
    };
    // Casts apply from the input towards the tree: the first to run is the last seen.
    let mut at_tree = element_type;
    for cast in casts.iter().rev() {
        if at_tree == NumberType::F32 && *cast == NumberType::F64 && element_type == NumberType::F64
        {
            return Err(Error::unsupported(
                "a double input cast to float and back to double before the tree ensemble",
                "export the model with a float input",
            ));
        }
        at_tree = *cast;
    }

    let dims = tensor_type
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    if tensor_type.shape.is_some() && dims.len() != 2 {
        return Err(Error::unsupported(
            format!("input `{input_name}` of rank {}", dims.len()),
            "the importer reads a [rows, features] input; export the model with a 2-D input",
        ));
    }
    let declared = dims.get(1).and_then(|d| d.dim_value).filter(|n| *n > 0);
    let n_features = declared
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .unwrap_or(0);
    let input = Input {
        name: input_name.to_string(),
        element_type,
        n_features,
        n_features_declared: declared.is_some(),
    };
    Ok((input, at_tree))
}

/// Follows a graph output back to an output of the tree operator through the plumbing.
fn trace_output(
    graph: &GraphProto,
    tree_index: usize,
    operator: Operator,
    name: &str,
    producers: &HashMap<&str, usize>,
    used: &mut [bool],
) -> Result<Output, Error> {
    let mut zipmap = false;
    let mut casts = Vec::new();
    let mut value = name;
    // Each step consumes a node; more steps than nodes means the values form a cycle.
    for _ in 0..=graph.node.len() {
        let Some(&index) = producers.get(value) else {
            return Err(Error::unsupported(
                format!("graph output `{name}`"),
                "it does not come from the tree ensemble; export the model with the ensemble's outputs only",
            ));
        };
        let node = &graph.node[index];
        if index == tree_index {
            let position = node
                .output
                .iter()
                .position(|o| o == value)
                .unwrap_or_default();
            let kind = match (operator, position, zipmap) {
                (Operator::TreeEnsembleClassifier, 0, false) => OutputKind::Label,
                (Operator::TreeEnsembleClassifier, _, true) => OutputKind::ScoreMap,
                (_, _, false) => OutputKind::Scores,
                (_, _, true) => {
                    return Err(Error::unsupported(
                        "a `ZipMap` after a regressor",
                        "export the regressor without ZipMap",
                    ));
                }
            };
            check_output_casts(node, kind, &casts)?;
            return Ok(Output {
                name: name.to_string(),
                kind,
            });
        }
        used[index] = true;
        value = if is_standard(node, "Identity") {
            first_input(node)
        } else if is_standard(node, "Cast") {
            casts.push(
                node.attribute
                    .iter()
                    .find(|a| a.name.as_deref() == Some("to"))
                    .and_then(|a| a.i)
                    .unwrap_or_default(),
            );
            first_input(node)
        } else if node.domain.as_deref() == Some(ML_DOMAIN) && op_type(node) == "ZipMap" {
            zipmap = true;
            first_input(node)
        } else if is_standard(node, "Mul") {
            multiplied_by_one(graph, node)?
        } else {
            return Err(unsupported_node(node, "after the tree ensemble"));
        };
    }
    Err(Error::invalid(
        format!("graph output `{name}`"),
        "the values it depends on form a cycle",
    ))
}

/// Casts behind the tree operator may keep the label's type (skl2onnx casts the int64 label to
/// int64) and may change the scores' float width; anything else changes what the model answers.
fn check_output_casts(tree: &NodeProto, kind: OutputKind, casts: &[i64]) -> Result<(), Error> {
    let string_labels = tree
        .attribute
        .iter()
        .any(|a| a.name.as_deref() == Some("classlabels_strings"));
    let allowed = match kind {
        OutputKind::Label if string_labels => vec![data_type::STRING],
        OutputKind::Label => vec![data_type::INT64],
        OutputKind::Scores | OutputKind::ScoreMap => vec![data_type::FLOAT, data_type::DOUBLE],
    };
    match casts
        .iter()
        .find(|to| !i32::try_from(**to).is_ok_and(|to| allowed.contains(&to)))
    {
        None => Ok(()),
        Some(other) => Err(Error::unsupported(
            format!(
                "a `Cast` of the tree ensemble's {} to {}",
                if kind == OutputKind::Label {
                    "label"
                } else {
                    "scores"
                },
                data_type::name(i32::try_from(*other).unwrap_or_default())
            ),
            "export the model with its outputs in their own types",
        )),
    }
}

fn first_input(node: &NodeProto) -> &str {
    node.input.first().map(String::as_str).unwrap_or_default()
}

/// The value a `Mul` multiplies by an initializer holding exactly 1 (onnxmltools writes one
/// behind LightGBM's probabilities).
fn multiplied_by_one<'a>(graph: &'a GraphProto, node: &'a NodeProto) -> Result<&'a str, Error> {
    let is_one = |name: &str| {
        graph
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .and_then(|t| tensor_floats(t).ok())
            .is_some_and(|numbers| numbers.values == [1.0])
    };
    match &node.input[..] {
        [value, factor] if is_one(factor) => Ok(value),
        [factor, value] if is_one(factor) => Ok(value),
        _ => Err(Error::unsupported(
            "a `Mul` after the tree ensemble by anything but the constant 1",
            "export the model without rescaling its outputs",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        Model, STUMP, assert_refused, classifier, float_tensor, int, node, regressor, tree_ensemble,
    };

    fn forest() -> NodeProto {
        classifier(STUMP, &[(0, 1, 0, 0.25), (0, 2, 0, 0.75)], &[0, 1], vec![])
    }

    fn kinds(model: &Model) -> Vec<(String, OutputKind)> {
        let ensemble = model.read().expect("reads");
        ensemble
            .outputs
            .into_iter()
            .map(|o| (o.name, o.kind))
            .collect()
    }

    #[test]
    fn skl2onnx_and_onnxmltools_plumbing_is_accepted() {
        // skl2onnx: Cast(label to int64), ZipMap(probabilities).
        let skl2onnx = Model::new(vec![
            forest(),
            node(
                "Cast",
                &["label"],
                &["output_label"],
                vec![int("to", data_type::INT64.into())],
            ),
            NodeProto {
                domain: Some(ML_DOMAIN.into()),
                ..node(
                    "ZipMap",
                    &["probabilities"],
                    &["output_probability"],
                    vec![],
                )
            },
        ])
        .outputs(&["output_label", "output_probability"]);
        assert_eq!(
            kinds(&skl2onnx),
            [
                ("output_label".into(), OutputKind::Label),
                ("output_probability".into(), OutputKind::ScoreMap)
            ]
        );
        // onnxmltools for LightGBM: Identity on both, Cast on the label, Mul by one on the scores.
        let onnxmltools = Model::new(vec![
            node("Identity", &["label"], &["l1"], vec![]),
            forest(),
            node("Identity", &["probabilities"], &["p1"], vec![]),
            node(
                "Cast",
                &["l1"],
                &["out_label"],
                vec![int("to", data_type::INT64.into())],
            ),
            node("Mul", &["p1", "one"], &["out_probabilities"], vec![]),
        ])
        .initializer("one", float_tensor(&[1.0]))
        .outputs(&["out_label", "out_probabilities"]);
        assert_eq!(
            kinds(&onnxmltools),
            [
                ("out_label".into(), OutputKind::Label),
                ("out_probabilities".into(), OutputKind::Scores)
            ]
        );
    }

    #[test]
    fn a_cast_in_front_sets_the_comparison_type() {
        let mut tree = forest();
        tree.input = vec!["x32".into()];
        let model = Model::new(vec![
            node(
                "Cast",
                &["X"],
                &["x32"],
                vec![int("to", data_type::FLOAT.into())],
            ),
            tree,
        ])
        .input(data_type::DOUBLE, &[None, Some(2)]);
        let ensemble = model.read().expect("reads");
        assert_eq!(
            (ensemble.input.element_type, ensemble.precision),
            (NumberType::F64, NumberType::F32)
        );
    }

    #[test]
    fn steps_before_beside_or_after_the_ensemble_are_refused_by_name() {
        let mut tree = forest();
        tree.input = vec!["scaled".into()];
        let scaler = NodeProto {
            domain: Some(ML_DOMAIN.into()),
            ..node("Scaler", &["X"], &["scaled"], vec![])
        };
        assert_refused(
            Model::new(vec![scaler, tree]).read(),
            &["`Scaler` (ai.onnx.ml) before the tree ensemble", "scaler"],
        );

        let beside = Model::new(vec![node("Abs", &["X"], &["unused"], vec![]), forest()]);
        assert_refused(beside.read(), &["`Abs` (ai.onnx) beside the tree ensemble"]);

        let doubled = Model::new(vec![
            forest(),
            node("Mul", &["probabilities", "two"], &["p"], vec![]),
        ])
        .initializer("two", float_tensor(&[2.0]))
        .outputs(&["label", "p"]);
        assert_refused(doubled.read(), &["`Mul`", "constant 1"]);

        let label_to_float = Model::new(vec![
            forest(),
            node(
                "Cast",
                &["label"],
                &["l"],
                vec![int("to", data_type::FLOAT.into())],
            ),
        ])
        .outputs(&["l", "probabilities"]);
        assert_refused(
            label_to_float.read(),
            &["`Cast` of the tree ensemble's label to float"],
        );

        let zipmap_regressor = Model::new(vec![
            regressor(STUMP, &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)], 1, vec![]),
            NodeProto {
                domain: Some(ML_DOMAIN.into()),
                ..node("ZipMap", &["variable"], &["m"], vec![])
            },
        ]);
        assert_refused(zipmap_regressor.read(), &["`ZipMap` after a regressor"]);

        let constant_output = Model::new(vec![forest()]).outputs(&["label", "probabilities", "X"]);
        assert_refused(
            constant_output.read(),
            &["graph output `X`", "does not come from the tree ensemble"],
        );
    }

    #[test]
    fn models_with_no_or_several_ensembles_or_inputs_are_refused() {
        assert_refused(
            Model::new(vec![node("Identity", &["X"], &["Y"], vec![])]).read(),
            &["without a tree ensemble"],
        );

        let mut second = forest();
        second.output = vec!["label2".into(), "probabilities2".into()];
        assert_refused(
            Model::new(vec![second, forest()]).read(),
            &["2 tree-ensemble operators", "one ensemble per model"],
        );

        assert_refused(
            Model::new(vec![forest()]).add_input("X2").read(),
            &["2 inputs", "single input"],
        );
    }

    #[test]
    fn inputs_that_are_not_float_matrices_are_refused() {
        assert_refused(
            Model::new(vec![forest()])
                .input(data_type::INT64, &[None, Some(2)])
                .read(),
            &["of type int64", "float input"],
        );
        assert_refused(
            Model::new(vec![forest()])
                .input(data_type::FLOAT, &[None, Some(2), Some(1)])
                .read(),
            &["rank 3"],
        );
        // A feature beyond the declared two.
        let mut nodes = STUMP.to_vec();
        nodes[0].2 = 2;
        let wide = classifier(&nodes, &[(0, 1, 0, 0.25), (0, 2, 0, 0.75)], &[0, 1], vec![]);
        assert_refused(
            Model::new(vec![wide]).read(),
            &["node 0 of tree 0", "feature 2", "has 2 features"],
        );
    }

    #[test]
    fn opsets_outside_what_the_operators_exist_in_are_refused() {
        assert_refused(
            Model::new(vec![forest()]).ml_opset(6).read(),
            &["ai.onnx.ml opset 6", "target opset 5"],
        );
        assert_refused(
            Model::new(vec![tree_ensemble(vec![])]).ml_opset(3).read(),
            &["TreeEnsemble", "opset 5 on"],
        );
    }

    #[test]
    fn a_value_cycle_is_refused_without_looping() {
        let model = Model::new(vec![
            forest(),
            node("Identity", &["loop"], &["loop"], vec![]),
        ])
        .outputs(&["loop"]);
        assert_refused(model.read(), &["graph output `loop`", "cycle"]);
    }
}
