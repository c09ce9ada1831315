//! The inference response: the model's outputs as tensors, written as JSON, or as a JSON header
//! followed by binary data (the binary tensor extension).

use fluxops_inference::{ClassLabels, Task};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::V2Error;
use super::request::Wanted;
use super::tensor::Datatype;
use crate::error::InternalCause;

/// The outputs a model produces, named as MLServer's scikit-learn runtime names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// The predicted label (classifiers) or values (regressors), one row per input row.
    Predict,
    /// The class probabilities, one row per input row (classifiers only).
    PredictProba,
}

impl Output {
    /// The output's name on the wire.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Output::Predict => "predict",
            Output::PredictProba => "predict_proba",
        }
    }

    /// The outputs of a model with `task`, in the order a response lists them.
    pub(crate) fn of_task(task: &Task) -> &'static [Output] {
        match task {
            Task::Classifier { .. } => &[Output::Predict, Output::PredictProba],
            Task::Regressor {} => &[Output::Predict],
        }
    }

    /// [`Output::of_task`] written out for a message.
    pub(crate) fn listed(task: &Task) -> &'static str {
        match task {
            Task::Classifier { .. } => "`predict` and `predict_proba`",
            Task::Regressor {} => "`predict` only",
        }
    }

    /// The datatype of this output for a model with `task`.
    pub(crate) fn datatype(self, task: &Task) -> Datatype {
        match (self, task) {
            (
                Output::Predict,
                Task::Classifier {
                    labels: ClassLabels::Integers(_),
                },
            ) => Datatype::Int64,
            (
                Output::Predict,
                Task::Classifier {
                    labels: ClassLabels::Strings(_),
                },
            ) => Datatype::Bytes,
            (Output::Predict, Task::Regressor {}) | (Output::PredictProba, _) => Datatype::Fp64,
        }
    }
}

/// What the model predicted for the rows, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Predicted {
    /// A classifier's answer: a class index per row and `n_rows x classes` probabilities.
    Classes {
        class_indices: Vec<usize>,
        probabilities: Vec<f64>,
    },
    /// A regressor's answer: `n_rows x outputs` values.
    Values(Vec<f64>),
}

/// Who answered: the registry's name and version of the served model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answering<'m> {
    pub(crate) name: &'m str,
    pub(crate) version: &'m str,
    pub(crate) task: &'m Task,
}

/// A response body; `json_length` is the length of its JSON header when binary data follows
/// (the `Inference-Header-Content-Length` value), `None` when the body is all JSON.
#[derive(Debug, PartialEq)]
pub(crate) struct Encoded {
    pub(crate) body: Vec<u8>,
    pub(crate) json_length: Option<usize>,
}

/// The inference response (`$inference_response`). Outputs answered as binary data have
/// `parameters.binary_data_size` instead of `data`, and their bytes follow the JSON.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InferenceResponse<'a> {
    /// The model's registry name.
    #[schema(example = "fluxops")]
    model_name: &'a str,
    /// The registry version that answered.
    #[schema(example = "20261203T101500Z-76fd1858")]
    model_version: &'a str,
    /// The request's `id`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// The outputs, in the order asked for (by default `predict`, then `predict_proba`).
    outputs: Vec<ResponseOutput<'a>>,
}

/// One output tensor (`$response_output`).
#[derive(Debug, Serialize, ToSchema)]
struct ResponseOutput<'a> {
    /// `predict` or `predict_proba`.
    #[schema(example = "predict")]
    name: &'static str,
    /// INT64 or BYTES labels, or FP64 values and probabilities.
    #[schema(example = "INT64")]
    datatype: &'static str,
    /// `[rows, 1]` for labels, `[rows, classes]` for probabilities, `[rows, outputs]` for a
    /// regressor's values.
    #[schema(value_type = Vec<u64>, example = json!([1, 1]))]
    shape: [usize; 2],
    /// `binary_data_size` for an output answered as binary data.
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinaryParameters>,
    /// The values, row-major and flat (absent for binary outputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Value>>, example = json!([1]))]
    data: Option<&'a Tensor<'a>>,
}

/// Parameters of an output answered as binary data.
#[derive(Debug, Serialize, ToSchema)]
struct BinaryParameters {
    /// Bytes of the output's binary data.
    binary_data_size: usize,
}

/// An output's elements.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Tensor<'a> {
    Int64(Vec<i64>),
    Fp64(&'a [f64]),
    Bytes(Vec<&'a str>),
}

impl Tensor<'_> {
    /// Number of elements.
    fn len(&self) -> usize {
        match self {
            Tensor::Int64(values) => values.len(),
            Tensor::Fp64(values) => values.len(),
            Tensor::Bytes(values) => values.len(),
        }
    }

    /// Bytes of the binary form: little-endian elements, a BYTES element as its 4-byte
    /// little-endian length and then its bytes.
    fn binary_size(&self) -> usize {
        match self {
            Tensor::Int64(values) => values.len() * size_of::<i64>(),
            Tensor::Fp64(values) => size_of_val(*values),
            Tensor::Bytes(values) => values.iter().map(|value| 4 + value.len()).sum(),
        }
    }

    fn write_binary(&self, out: &mut Vec<u8>) {
        match self {
            Tensor::Int64(values) => values
                .iter()
                .for_each(|value| out.extend_from_slice(&value.to_le_bytes())),
            Tensor::Fp64(values) => values
                .iter()
                .for_each(|value| out.extend_from_slice(&value.to_le_bytes())),
            Tensor::Bytes(values) => values.iter().for_each(|value| {
                // Labels come from a model within the artifact size limit: far below 4 GiB.
                let length = u32::try_from(value.len()).expect("a label is shorter than 4 GiB");
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(value.as_bytes());
            }),
        }
    }
}

/// Writes the response for `n_rows` rows: the `wanted` outputs of `predicted`, echoing `id`.
pub(crate) fn encode(
    answering: Answering<'_>,
    id: Option<&str>,
    wanted: &[Wanted],
    n_rows: usize,
    predicted: &Predicted,
) -> Result<Encoded, V2Error> {
    let tensors = wanted
        .iter()
        .map(|wanted| tensor(answering.task, wanted.output, predicted))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = wanted
        .iter()
        .zip(&tensors)
        .map(|(wanted, tensor)| ResponseOutput {
            name: wanted.output.name(),
            datatype: wanted.output.datatype(answering.task).name(),
            shape: [n_rows, tensor.len() / n_rows.max(1)],
            parameters: wanted.binary.then(|| BinaryParameters {
                binary_data_size: tensor.binary_size(),
            }),
            data: (!wanted.binary).then_some(tensor),
        })
        .collect();
    let header = InferenceResponse {
        model_name: answering.name,
        model_version: answering.version,
        id,
        outputs,
    };
    let binary_size: usize = wanted
        .iter()
        .zip(&tensors)
        .filter(|(wanted, _)| wanted.binary)
        .map(|(_, tensor)| tensor.binary_size())
        .sum();
    // Room for the JSON header of a single-row answer, and the binary data.
    let mut body = Vec::with_capacity(512 + binary_size);
    serde_json::to_writer(&mut body, &header)
        .expect("a response of numbers and strings serialises");
    if !wanted.iter().any(|wanted| wanted.binary) {
        return Ok(Encoded {
            body,
            json_length: None,
        });
    }
    let json_length = body.len();
    for (_, tensor) in wanted
        .iter()
        .zip(&tensors)
        .filter(|(wanted, _)| wanted.binary)
    {
        tensor.write_binary(&mut body);
    }
    Ok(Encoded {
        body,
        json_length: Some(json_length),
    })
}

/// The elements of `output` for a model with `task`, from what it predicted.
fn tensor<'a>(
    task: &'a Task,
    output: Output,
    predicted: &'a Predicted,
) -> Result<Tensor<'a>, V2Error> {
    Ok(match (output, predicted, task) {
        (
            Output::Predict,
            Predicted::Classes { class_indices, .. },
            Task::Classifier {
                labels: ClassLabels::Integers(labels),
            },
        ) => Tensor::Int64(class_indices.iter().map(|&class| labels[class]).collect()),
        (
            Output::Predict,
            Predicted::Classes { class_indices, .. },
            Task::Classifier {
                labels: ClassLabels::Strings(labels),
            },
        ) => Tensor::Bytes(
            class_indices
                .iter()
                .map(|&class| labels[class].as_str())
                .collect(),
        ),
        (Output::Predict, Predicted::Values(values), _) => Tensor::Fp64(values),
        (Output::PredictProba, Predicted::Classes { probabilities, .. }, _) => {
            Tensor::Fp64(probabilities)
        }
        _ => {
            return Err(V2Error::Internal(InternalCause::new(format!(
                "the prediction does not match the model's task for output `{}`",
                output.name()
            ))));
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn integer_classifier() -> Task {
        Task::Classifier {
            labels: ClassLabels::Integers(vec![7, -3]),
        }
    }

    fn answering(task: &Task) -> Answering<'_> {
        Answering {
            name: "fluxops",
            version: "v1",
            task,
        }
    }

    fn classes() -> Predicted {
        Predicted::Classes {
            class_indices: vec![1, 0],
            probabilities: vec![0.25, 0.75, 0.5, 0.5],
        }
    }

    fn all(binary: bool) -> [Wanted; 2] {
        [Output::Predict, Output::PredictProba].map(|output| Wanted { output, binary })
    }

    #[test]
    fn json_outputs_are_row_major_with_their_shapes() {
        let task = integer_classifier();
        let encoded =
            encode(answering(&task), Some("42"), &all(false), 2, &classes()).expect("encoded");
        assert_eq!(encoded.json_length, None);
        let body: Value = serde_json::from_slice(&encoded.body).expect("JSON");
        assert_eq!(
            body,
            json!({"model_name": "fluxops", "model_version": "v1", "id": "42", "outputs": [
                {"name": "predict", "datatype": "INT64", "shape": [2, 1], "data": [-3, 7]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [2, 2],
                 "data": [0.25, 0.75, 0.5, 0.5]}]})
        );
    }

    #[test]
    fn binary_outputs_follow_the_json_header_in_order() {
        let task = integer_classifier();
        let wanted = [
            Wanted {
                output: Output::PredictProba,
                binary: true,
            },
            Wanted {
                output: Output::Predict,
                binary: true,
            },
        ];
        let encoded = encode(answering(&task), None, &wanted, 2, &classes()).expect("encoded");
        let json_length = encoded.json_length.expect("binary data follows");
        let header: Value = serde_json::from_slice(&encoded.body[..json_length]).expect("JSON");
        assert_eq!(header.get("id"), None);
        assert_eq!(
            header["outputs"],
            json!([
                {"name": "predict_proba", "datatype": "FP64", "shape": [2, 2],
                 "parameters": {"binary_data_size": 32}},
                {"name": "predict", "datatype": "INT64", "shape": [2, 1],
                 "parameters": {"binary_data_size": 16}}])
        );
        let binary = &encoded.body[json_length..];
        assert_eq!(binary.len(), 48);
        let f64_at = |at: usize| f64::from_le_bytes(binary[at..at + 8].try_into().expect("8"));
        let i64_at = |at: usize| i64::from_le_bytes(binary[at..at + 8].try_into().expect("8"));
        assert_eq!(
            [f64_at(0), f64_at(8), f64_at(16), f64_at(24)],
            [0.25, 0.75, 0.5, 0.5]
        );
        assert_eq!([i64_at(32), i64_at(40)], [-3, 7]);
    }

    #[test]
    fn string_labels_are_bytes_with_a_length_prefix() {
        let task = Task::Classifier {
            labels: ClassLabels::Strings(vec!["no".to_owned(), "yes".to_owned()]),
        };
        let predict = [Wanted {
            output: Output::Predict,
            binary: false,
        }];
        let json = encode(answering(&task), None, &predict, 2, &classes()).expect("JSON");
        let body: Value = serde_json::from_slice(&json.body).expect("JSON");
        assert_eq!(
            body["outputs"][0],
            json!({"name": "predict", "datatype": "BYTES", "shape": [2, 1], "data": ["yes", "no"]})
        );
        let binary = [Wanted {
            output: Output::Predict,
            binary: true,
        }];
        let encoded = encode(answering(&task), None, &binary, 2, &classes()).expect("binary");
        let json_length = encoded.json_length.expect("binary");
        assert_eq!(
            &encoded.body[json_length..],
            b"\x03\x00\x00\x00yes\x02\x00\x00\x00no"
        );
        let header: Value = serde_json::from_slice(&encoded.body[..json_length]).expect("JSON");
        assert_eq!(header["outputs"][0]["parameters"]["binary_data_size"], 13);
    }

    #[test]
    fn a_regressor_predicts_values_only() {
        let task = Task::Regressor {};
        assert_eq!(Output::of_task(&task), &[Output::Predict]);
        let values = Predicted::Values(vec![1.5, -2.0, 3.0, 4.0]);
        let predict = [Wanted {
            output: Output::Predict,
            binary: false,
        }];
        let encoded = encode(answering(&task), None, &predict, 2, &values).expect("encoded");
        let body: Value = serde_json::from_slice(&encoded.body).expect("JSON");
        assert_eq!(
            body["outputs"][0],
            json!({"name": "predict", "datatype": "FP64", "shape": [2, 2], "data": [1.5, -2.0, 3.0, 4.0]})
        );
        let proba = [Wanted {
            output: Output::PredictProba,
            binary: false,
        }];
        assert!(matches!(
            encode(answering(&task), None, &proba, 2, &values),
            Err(V2Error::Internal(_))
        ));
    }
}
