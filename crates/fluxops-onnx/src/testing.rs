//! Builders for small ONNX models, so that unit tests go through the same bytes-to-ensemble path
//! as real files.

use prost::Message;

use crate::proto::{
    AttributeProto, DimensionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, attribute_type,
    data_type,
};
use crate::{Ensemble, Error};

/// A node as `(tree, id, feature, mode, threshold, true id, false id, missing to true)`.
pub(crate) type NodeRow = (i64, i64, i64, &'static str, f32, i64, i64, i64);
/// A leaf weight as `(tree, node id, class or target, weight)`.
pub(crate) type WeightRow = (i64, i64, i64, f32);

/// One tree: `x0 <= 0.5` goes to leaf 1, else to leaf 2.
pub(crate) const STUMP: &[NodeRow] = &[
    (0, 0, 0, "BRANCH_LEQ", 0.5, 1, 2, 0),
    (0, 1, 0, "LEAF", 0.0, 0, 0, 0),
    (0, 2, 0, "LEAF", 0.0, 0, 0, 0),
];

pub(crate) fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INTS),
        ints: values.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn floats(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::FLOATS),
        floats: values.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn strings(name: &str, values: &[&str]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::STRINGS),
        strings: values.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

pub(crate) fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::STRING),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INT),
        i: Some(value),
        ..Default::default()
    }
}

pub(crate) fn tensor(name: &str, tensor: TensorProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::TENSOR),
        t: Some(Box::new(tensor)),
        ..Default::default()
    }
}

pub(crate) fn double_tensor(values: &[f64]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: Some(data_type::DOUBLE),
        double_data: values.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn float_tensor(values: &[f32]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: Some(data_type::FLOAT),
        float_data: values.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn uint8_tensor(values: &[u8]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: Some(data_type::UINT8),
        raw_data: Some(values.to_vec()),
        ..Default::default()
    }
}

/// The `nodes_*` attributes of `nodes`, and the weights under `{prefix}_*`.
pub(crate) fn tree_attributes(
    nodes: &[NodeRow],
    weights: &[WeightRow],
    prefix: &str,
) -> Vec<AttributeProto> {
    let column = |f: fn(&NodeRow) -> i64| nodes.iter().map(f).collect::<Vec<_>>();
    let modes: Vec<&str> = nodes.iter().map(|n| n.3).collect();
    let values: Vec<f32> = nodes.iter().map(|n| n.4).collect();
    vec![
        ints("nodes_treeids", &column(|n| n.0)),
        ints("nodes_nodeids", &column(|n| n.1)),
        ints("nodes_featureids", &column(|n| n.2)),
        strings("nodes_modes", &modes),
        floats("nodes_values", &values),
        ints("nodes_truenodeids", &column(|n| n.5)),
        ints("nodes_falsenodeids", &column(|n| n.6)),
        ints("nodes_missing_value_tracks_true", &column(|n| n.7)),
        ints(
            &format!("{prefix}_treeids"),
            &weights.iter().map(|w| w.0).collect::<Vec<_>>(),
        ),
        ints(
            &format!("{prefix}_nodeids"),
            &weights.iter().map(|w| w.1).collect::<Vec<_>>(),
        ),
        ints(
            &format!("{prefix}_ids"),
            &weights.iter().map(|w| w.2).collect::<Vec<_>>(),
        ),
        floats(
            &format!("{prefix}_weights"),
            &weights.iter().map(|w| w.3).collect::<Vec<_>>(),
        ),
    ]
}

fn ml_node(op_type: &str, outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: vec!["X".into()],
        output: outputs.iter().map(|o| o.to_string()).collect(),
        op_type: Some(op_type.into()),
        domain: Some("ai.onnx.ml".into()),
        attribute,
        ..Default::default()
    }
}

/// A `TreeEnsembleClassifier` with integer labels `labels`, plus `extra` attributes.
pub(crate) fn classifier(
    nodes: &[NodeRow],
    weights: &[WeightRow],
    labels: &[i64],
    extra: Vec<AttributeProto>,
) -> NodeProto {
    let mut attributes = tree_attributes(nodes, weights, "class");
    attributes.push(ints("classlabels_int64s", labels));
    attributes.extend(extra);
    ml_node(
        "TreeEnsembleClassifier",
        &["label", "probabilities"],
        attributes,
    )
}

/// A `TreeEnsembleRegressor` with `n_targets`, plus `extra` attributes.
pub(crate) fn regressor(
    nodes: &[NodeRow],
    weights: &[WeightRow],
    n_targets: i64,
    extra: Vec<AttributeProto>,
) -> NodeProto {
    let mut attributes = tree_attributes(nodes, weights, "target");
    attributes.push(int("n_targets", n_targets));
    attributes.extend(extra);
    ml_node("TreeEnsembleRegressor", &["variable"], attributes)
}

/// A `TreeEnsemble` (ml opset 5) with `attributes`.
pub(crate) fn tree_ensemble(attributes: Vec<AttributeProto>) -> NodeProto {
    ml_node("TreeEnsemble", &["variable"], attributes)
}

/// A standard-domain node.
pub(crate) fn node(
    op_type: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|i| i.to_string()).collect(),
        output: outputs.iter().map(|o| o.to_string()).collect(),
        op_type: Some(op_type.into()),
        attribute,
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| DimensionProto {
                            dim_value: *d,
                            dim_param: None,
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// A model under construction: one float input `X` of two features, the nodes given, and as
/// graph outputs the outputs of the last node.
pub(crate) struct Model {
    pub proto: ModelProto,
}

impl Model {
    pub fn new(nodes: Vec<NodeProto>) -> Self {
        let outputs = nodes.last().map(|n| n.output.clone()).unwrap_or_default();
        let graph = GraphProto {
            node: nodes,
            initializer: Vec::new(),
            input: vec![value_info("X", data_type::FLOAT, &[None, Some(2)])],
            output: outputs
                .iter()
                .map(|o| value_info(o, data_type::FLOAT, &[]))
                .collect(),
        };
        let opset = |domain: &str, version| OperatorSetIdProto {
            domain: Some(domain.into()),
            version: Some(version),
        };
        Self {
            proto: ModelProto {
                ir_version: Some(8),
                producer_name: Some("fluxops-tests".into()),
                producer_version: Some("1".into()),
                graph: Some(graph),
                opset_import: vec![opset("", 17), opset("ai.onnx.ml", 3)],
            },
        }
    }

    fn graph(&mut self) -> &mut GraphProto {
        self.proto.graph.get_or_insert_with(Default::default)
    }

    /// Replaces the input by one of `elem_type` and shape `dims`.
    pub fn input(mut self, elem_type: i32, dims: &[Option<i64>]) -> Self {
        self.graph().input = vec![value_info("X", elem_type, dims)];
        self
    }

    pub fn add_input(mut self, name: &str) -> Self {
        self.graph()
            .input
            .push(value_info(name, data_type::FLOAT, &[None, Some(1)]));
        self
    }

    pub fn outputs(mut self, names: &[&str]) -> Self {
        self.graph().output = names
            .iter()
            .map(|o| value_info(o, data_type::FLOAT, &[]))
            .collect();
        self
    }

    pub fn initializer(mut self, name: &str, mut tensor: TensorProto) -> Self {
        tensor.name = Some(name.into());
        self.graph().initializer.push(tensor);
        self
    }

    pub fn ml_opset(mut self, version: i64) -> Self {
        for opset in &mut self.proto.opset_import {
            if opset.domain.as_deref() == Some("ai.onnx.ml") {
                opset.version = Some(version);
            }
        }
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    pub fn read(&self) -> Result<Ensemble, Error> {
        Ensemble::from_onnx(&self.bytes(), 1 << 20)
    }
}

/// The model of one node, read.
pub(crate) fn read(node: NodeProto) -> Result<Ensemble, Error> {
    Model::new(vec![node]).read()
}

/// Asserts that reading fails with a message containing every one of `parts`.
#[track_caller]
pub(crate) fn assert_refused(result: Result<Ensemble, Error>, parts: &[&str]) {
    match result {
        Ok(ensemble) => panic!("expected a refusal mentioning {parts:?}, read {ensemble:?}"),
        Err(error) => {
            let message = error.to_string();
            for part in parts {
                assert!(
                    message.contains(part),
                    "`{message}` does not mention `{part}`"
                );
            }
        }
    }
}
