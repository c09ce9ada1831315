//! The inference request: the body split by the binary tensor extension, the JSON header
//! borrowed from it, and the checks that turn its one input into rows of features and its
//! `outputs` into what the response holds.

use std::borrow::Cow;

use axum::http::HeaderValue;
use fluxops_inference::Task;
use serde::Deserialize;
use serde::de::IgnoredAny;
use utoipa::ToSchema;

use super::error::{V2Error, bounded, shape_text};
use super::response::Output;
use super::tensor::{Datatype, JsonTensor, decode_binary};

/// The binary tensor extension's header: the length of the JSON header at the start of the body.
pub(crate) const HEADER_LENGTH: &str = "inference-header-content-length";

/// A request body, split as the binary tensor extension says.
#[derive(Debug, PartialEq)]
pub(crate) enum Body<'b> {
    /// A JSON header, then the binary data of the inputs; `binary` is `None` without the
    /// `Inference-Header-Content-Length` header (the whole body is JSON).
    Framed {
        /// The JSON inference request.
        json: &'b [u8],
        /// The bytes after it.
        binary: Option<&'b [u8]>,
    },
    /// `Inference-Header-Content-Length: 0`: no JSON at all, the body is the binary data of the
    /// one input, FP64 rows, and every output is answered in binary.
    Raw(&'b [u8]),
}

/// Splits `body` at the length `header` gives (the `Inference-Header-Content-Length` value).
pub(crate) fn split_body<'b>(
    header: Option<&HeaderValue>,
    body: &'b [u8],
) -> Result<Body<'b>, V2Error> {
    let Some(header) = header else {
        return Ok(Body::Framed {
            json: body,
            binary: None,
        });
    };
    let json_length = header
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .filter(|&length| length <= body.len())
        .ok_or_else(|| V2Error::InvalidHeaderLength {
            value: bounded(&String::from_utf8_lossy(header.as_bytes())),
            body_length: body.len(),
        })?;
    Ok(match body.split_at(json_length) {
        ([], raw) => Body::Raw(raw),
        (json, binary) => Body::Framed {
            json,
            binary: Some(binary),
        },
    })
}

/// An inference request (the protocol's `$inference_request`); fields the protocol does not
/// define are ignored.
// Strings are borrowed from the body where they need no unescaping.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct InferenceRequest<'a> {
    /// Echoed in the response.
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>)]
    pub(crate) id: Option<Cow<'a, str>>,
    /// Request parameters; this server reads `binary_data_output` and ignores the others.
    #[serde(default)]
    parameters: Option<RequestParameters>,
    /// Exactly one input: the rows to predict.
    #[serde(borrow)]
    inputs: Vec<RequestInput<'a>>,
    /// The outputs wanted, and how; all the model produces when absent or empty.
    #[serde(borrow, default)]
    outputs: Option<Vec<RequestOutput<'a>>>,
}

/// Request-wide parameters.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct RequestParameters {
    /// Answer every output as binary data unless the output says otherwise.
    binary_data_output: Option<bool>,
}

/// The input tensor (`$request_input`).
#[derive(Debug, Deserialize, ToSchema)]
struct RequestInput<'a> {
    /// Any name: the model has one input.
    #[serde(borrow)]
    #[schema(value_type = String, example = "input-0")]
    name: Cow<'a, str>,
    /// `[rows, features]`, or `[features]` for one row.
    #[schema(example = json!([1, 10]))]
    shape: Vec<u64>,
    /// FP64, FP32, INT8 to INT64, UINT8 to UINT64, or BOOL.
    #[serde(borrow)]
    #[schema(value_type = String, example = "FP64")]
    datatype: Cow<'a, str>,
    /// `binary_data_size` when the values follow the JSON header as binary data.
    #[serde(default)]
    parameters: Option<InputParameters>,
    /// The values, row-major, nested as the shape or flat.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Value>>, example = json!([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]))]
    data: Option<JsonTensor>,
}

/// Input parameters.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct InputParameters {
    /// Bytes of this input's binary data after the JSON header.
    binary_data_size: Option<u64>,
    /// Triton's shared-memory extensions, which this server does not offer.
    #[schema(value_type = Option<String>)]
    shared_memory_region: Option<IgnoredAny>,
}

/// An output wanted (`$request_output`).
#[derive(Debug, Deserialize, ToSchema)]
struct RequestOutput<'a> {
    /// `predict` or `predict_proba`.
    #[serde(borrow)]
    #[schema(value_type = String, example = "predict_proba")]
    name: Cow<'a, str>,
    /// `binary_data: true` to have this output as binary data.
    #[serde(default)]
    parameters: Option<OutputParameters>,
}

/// Output parameters.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct OutputParameters {
    /// Answer this output as binary data (overrides `binary_data_output`).
    binary_data: Option<bool>,
    /// Triton's classification extension, which this server does not offer.
    #[schema(value_type = Option<u32>)]
    classification: Option<IgnoredAny>,
    /// Triton's shared-memory extensions, which this server does not offer.
    #[schema(value_type = Option<String>)]
    shared_memory_region: Option<IgnoredAny>,
}

/// An output for the response, and whether it goes as binary data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) output: Output,
    pub(crate) binary: bool,
}

/// The rows to predict: `n_rows` rows of the model's features, row-major.
#[derive(Debug, PartialEq)]
pub(crate) struct Rows {
    pub(crate) values: Vec<f64>,
    pub(crate) n_rows: usize,
}

impl<'a> InferenceRequest<'a> {
    /// Parses the JSON header of a request.
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, V2Error> {
        serde_json::from_slice(json).map_err(|error| V2Error::InvalidRequest(error.to_string()))
    }

    /// The one input as rows of `n_features` features, taking its values from `data` or from
    /// `binary` (the bytes after the JSON header, `None` without the header).
    pub(crate) fn take_rows(
        &mut self,
        n_features: usize,
        max_batch: usize,
        binary: Option<&[u8]>,
    ) -> Result<Rows, V2Error> {
        let count = self.inputs.len();
        let [input] = self.inputs.as_mut_slice() else {
            return Err(V2Error::WrongInputCount { count, n_features });
        };
        let name: &str = &input.name;
        let datatype = Datatype::of_input(&input.datatype, name)?;
        let n_rows = rows_in(&input.shape, n_features, max_batch, name)?;
        let n_values = n_rows * n_features;
        let parameters = input.parameters.take().unwrap_or_default();
        if parameters.shared_memory_region.is_some() {
            return Err(V2Error::UnsupportedParameter {
                place: format!("input `{}`", bounded(name)),
                parameter: "shared_memory_region",
                why: "the shared-memory extensions",
            });
        }
        let values = match (input.data.take(), parameters.binary_data_size) {
            (Some(_), Some(_)) => {
                return Err(V2Error::DataTwice {
                    input: bounded(name),
                });
            }
            (None, None) => {
                return Err(V2Error::MissingData {
                    input: bounded(name),
                });
            }
            (Some(data), None) => {
                if data.len() != n_values {
                    return Err(V2Error::DataLengthMismatch {
                        input: bounded(name),
                        shape: shape_text(&input.shape),
                        expected: n_values,
                        actual: data.len(),
                    });
                }
                if let Some(extra) = binary.map(<[u8]>::len).filter(|&extra| extra > 0) {
                    return Err(V2Error::UnclaimedBinary { extra });
                }
                data.into_features(datatype, name)?
            }
            (None, Some(declared)) => {
                let Some(binary) = binary else {
                    return Err(V2Error::BinaryWithoutHeader {
                        input: bounded(name),
                    });
                };
                let element_size = datatype
                    .element_size()
                    .expect("input datatypes have a fixed size");
                let expected = (n_values * element_size) as u64;
                if declared != expected {
                    return Err(V2Error::BinarySizeMismatch {
                        input: bounded(name),
                        shape: shape_text(&input.shape),
                        datatype: datatype.name(),
                        expected,
                        declared,
                    });
                }
                let Some(tensor) = binary.get(..n_values * element_size) else {
                    return Err(V2Error::BinaryPastEnd {
                        input: bounded(name),
                        declared,
                        available: binary.len(),
                    });
                };
                if binary.len() > tensor.len() {
                    return Err(V2Error::UnclaimedBinary {
                        extra: binary.len() - tensor.len(),
                    });
                }
                decode_binary(tensor, datatype, name)?
            }
        };
        Ok(Rows { values, n_rows })
    }

    /// The name of the (first) input, for messages about its values.
    pub(crate) fn input_name(&self) -> &str {
        self.inputs.first().map_or("", |input| &input.name)
    }

    /// The outputs to answer, in order: those asked for, or all that a model with `task`
    /// produces.
    pub(crate) fn wanted_outputs(&self, task: &Task) -> Result<Vec<Wanted>, V2Error> {
        let binary_by_default = self
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.binary_data_output)
            .unwrap_or(false);
        let produced = Output::of_task(task);
        let Some(requested) = self.outputs.as_ref().filter(|outputs| !outputs.is_empty()) else {
            return Ok(produced
                .iter()
                .map(|&output| Wanted {
                    output,
                    binary: binary_by_default,
                })
                .collect());
        };
        let mut wanted: Vec<Wanted> = Vec::with_capacity(requested.len());
        for request in requested {
            let name = bounded(&request.name);
            let output = produced
                .iter()
                .copied()
                .find(|output| output.name() == request.name)
                .ok_or_else(|| V2Error::UnknownOutput {
                    requested: name.clone(),
                    available: Output::listed(task),
                })?;
            if wanted.iter().any(|earlier| earlier.output == output) {
                return Err(V2Error::DuplicateOutput(name));
            }
            let parameters = request.parameters.as_ref();
            let unsupported = |parameter, why| V2Error::UnsupportedParameter {
                place: format!("output `{name}`"),
                parameter,
                why,
            };
            if parameters.is_some_and(|parameters| parameters.classification.is_some()) {
                return Err(unsupported(
                    "classification",
                    "the classification extension; ask for `predict_proba`",
                ));
            }
            if parameters.is_some_and(|parameters| parameters.shared_memory_region.is_some()) {
                return Err(unsupported(
                    "shared_memory_region",
                    "the shared-memory extensions",
                ));
            }
            wanted.push(Wanted {
                output,
                binary: parameters
                    .and_then(|parameters| parameters.binary_data)
                    .unwrap_or(binary_by_default),
            });
        }
        Ok(wanted)
    }
}

/// What messages call the input of a raw binary body.
pub(crate) const RAW_INPUT: &str = "(raw binary body)";

/// The rows of a raw binary body (`Inference-Header-Content-Length: 0`): whole FP64 rows.
pub(crate) fn raw_rows(body: &[u8], n_features: usize, max_batch: usize) -> Result<Rows, V2Error> {
    let row_bytes = n_features * size_of::<f64>();
    if body.is_empty() || !body.len().is_multiple_of(row_bytes) {
        return Err(V2Error::RawBinaryLength {
            n_features,
            row_bytes,
            length: body.len(),
        });
    }
    let n_rows = body.len() / row_bytes;
    if n_rows > max_batch {
        return Err(V2Error::BatchTooLarge {
            rows: n_rows as u64,
            limit: max_batch,
        });
    }
    Ok(Rows {
        values: decode_binary(body, Datatype::Fp64, RAW_INPUT)?,
        n_rows,
    })
}

/// The number of rows `shape` gives for a model of `n_features` features, within `max_batch`.
fn rows_in(
    shape: &[u64],
    n_features: usize,
    max_batch: usize,
    input: &str,
) -> Result<usize, V2Error> {
    let (n_rows, width) = match *shape {
        [n_rows, width] => (n_rows, width),
        [width] => (1, width),
        _ => {
            return Err(V2Error::WrongRank {
                input: bounded(input),
                shape: shape_text(shape),
                rank: shape.len(),
                n_features,
            });
        }
    };
    if width != n_features as u64 {
        return Err(V2Error::WrongFeatureCount {
            input: bounded(input),
            expected: n_features,
            actual: width,
        });
    }
    if n_rows > max_batch as u64 {
        return Err(V2Error::BatchTooLarge {
            rows: n_rows,
            limit: max_batch,
        });
    }
    if n_rows == 0 {
        return Err(V2Error::EmptyBatch {
            input: bounded(input),
        });
    }
    // At most `max_batch`, so it fits.
    Ok(n_rows as usize)
}

#[cfg(test)]
mod tests {
    use fluxops_inference::ClassLabels;

    use super::*;

    const N_FEATURES: usize = 2;
    const MAX_BATCH: usize = 4;

    fn rows(json: &str, binary: Option<&[u8]>) -> Result<Rows, String> {
        let mut request = InferenceRequest::parse(json.as_bytes()).map_err(|e| e.to_string())?;
        request
            .take_rows(N_FEATURES, MAX_BATCH, binary)
            .map_err(|error| error.to_string())
    }

    fn input(shape: &str, datatype: &str, rest: &str) -> String {
        format!(
            r#"{{"inputs": [{{"name": "x", "shape": {shape}, "datatype": "{datatype}"{rest}}}]}}"#
        )
    }

    fn fp64_bytes(values: &[f64]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|value| value.to_le_bytes())
            .collect()
    }

    #[test]
    fn the_body_splits_at_the_header_length() {
        let header = HeaderValue::from_static("4");
        assert_eq!(
            split_body(Some(&header), b"{}  rest"),
            Ok(Body::Framed {
                json: b"{}  ",
                binary: Some(b"rest")
            })
        );
        assert_eq!(
            split_body(None, b"{}"),
            Ok(Body::Framed {
                json: b"{}",
                binary: None
            })
        );
        let zero = HeaderValue::from_static("0");
        assert_eq!(split_body(Some(&zero), b"raw"), Ok(Body::Raw(b"raw")));
        for bad in ["9", "-1", "x", "", "18446744073709551616"] {
            let header = HeaderValue::from_str(bad).expect("header");
            let error = split_body(Some(&header), b"{}  rest").expect_err(bad);
            assert!(
                error.to_string().contains("at most the body's 8"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn a_row_or_a_batch_in_json() {
        let batch = rows(
            &input("[2, 2]", "FP64", r#", "data": [[1, 2], [3, 4]]"#),
            None,
        );
        assert_eq!(
            batch,
            Ok(Rows {
                values: vec![1.0, 2.0, 3.0, 4.0],
                n_rows: 2,
            })
        );
        let one = rows(&input("[2]", "INT32", r#", "data": [5, 6]"#), None).expect("a row");
        assert_eq!((one.values, one.n_rows), (vec![5.0, 6.0], 1));
    }

    #[test]
    fn shapes_must_be_rows_of_the_models_features_within_the_limit() {
        let error = |shape: &str| {
            rows(&input(shape, "FP64", r#", "data": [1, 2]"#), None).expect_err(shape)
        };
        assert_eq!(
            error("[1, 2, 1]"),
            "input `x`: shape [1, 2, 1] has 3 dimensions; send [rows, 2], or [2] for one row"
        );
        assert!(error("[]").contains("shape [] has 0 dimensions"));
        assert_eq!(
            error("[1, 3]"),
            "input `x`: expected 2 features per row, got 3; send shape [rows, 2]"
        );
        assert_eq!(
            error("[5, 2]"),
            "the batch has 5 rows; send at most 4 per request"
        );
        assert_eq!(error("[0, 2]"), "input `x` has no rows; send at least one");
        assert_eq!(
            error("[2, 2]"),
            "input `x`: shape [2, 2] holds 4 values, but `data` has 2; send the values of every row, row-major"
        );
        let huge = format!("[{}, 2]", u64::MAX);
        assert!(error(&huge).contains("send at most 4 per request"));
        assert!(error("[-1, 2]").starts_with("the body is not a valid inference request"));
    }

    #[test]
    fn exactly_one_input_with_its_values_given_once() {
        let two = r#"{"inputs": [
            {"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 2]},
            {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}"#;
        assert_eq!(
            rows(two, None).expect_err("two inputs"),
            "the model takes one input of shape [rows, 2]; the request has 2"
        );
        assert!(
            rows(r#"{"inputs": []}"#, None)
                .expect_err("none")
                .ends_with("the request has 0")
        );
        assert!(
            rows("{}", None)
                .expect_err("no inputs")
                .contains("missing field `inputs`")
        );
        assert!(
            rows(&input("[2]", "FP64", ""), None)
                .expect_err("no data")
                .starts_with("input `x` has no `data` and no `binary_data_size`")
        );
        let twice = input(
            "[2]",
            "FP64",
            r#", "data": [1, 2], "parameters": {"binary_data_size": 16}"#,
        );
        assert!(
            rows(&twice, Some(&[0; 16]))
                .expect_err("twice")
                .contains("both `data`")
        );
        let shared = input(
            "[2]",
            "FP64",
            r#", "data": [1, 2], "parameters": {"shared_memory_region": "r"}"#,
        );
        assert!(
            rows(&shared, None)
                .expect_err("shm")
                .contains("parameter `shared_memory_region` is not supported")
        );
    }

    #[test]
    fn binary_inputs_are_bounded_by_their_declared_size_and_the_body() {
        let binary = |size: u64| {
            input(
                "[2, 2]",
                "FP64",
                &format!(r#", "parameters": {{"binary_data_size": {size}}}"#),
            )
        };
        let data = fp64_bytes(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            rows(&binary(32), Some(&data)).map(|rows| rows.values),
            Ok(vec![1.0, 2.0, 3.0, 4.0])
        );
        assert_eq!(
            rows(&binary(24), Some(&data)).expect_err("short"),
            "input `x`: shape [2, 2] of FP64 takes 32 bytes, but `binary_data_size` is 24; send exactly the tensor's bytes"
        );
        assert_eq!(
            rows(&binary(32), Some(&data[..31])).expect_err("past the end"),
            "input `x`: `binary_data_size` is 32 bytes, but 31 bytes follow the JSON header"
        );
        let mut longer = data.clone();
        longer.push(0);
        assert_eq!(
            rows(&binary(32), Some(&longer)).expect_err("extra"),
            "the body has 1 bytes after the JSON header that no input claims; give the binary input its `binary_data_size`"
        );
        assert!(
            rows(&binary(32), None)
                .expect_err("no header")
                .contains("no Inference-Header-Content-Length header")
        );
        assert!(rows(&binary(u64::MAX), Some(&data)).is_err());
        let json_then_bytes = input("[2]", "FP64", r#", "data": [1, 2]"#);
        assert!(
            rows(&json_then_bytes, Some(&[1]))
                .expect_err("extra")
                .contains("1 bytes")
        );
        assert!(rows(&json_then_bytes, Some(&[])).is_ok());
        let fp32 = input("[2]", "FP32", r#", "parameters": {"binary_data_size": 8}"#);
        let bytes: Vec<u8> = [0.5_f32, 0.1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            rows(&fp32, Some(&bytes)).map(|rows| rows.values),
            Ok(vec![0.5, f64::from(0.1_f32)])
        );
    }

    #[test]
    fn a_raw_binary_body_is_whole_fp64_rows() {
        let body = fp64_bytes(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(raw_rows(&body, 2, 4).map(|rows| rows.n_rows), Ok(2));
        assert!(raw_rows(&body[..12], 2, 4).is_err());
        assert!(raw_rows(&[], 2, 4).is_err());
        assert_eq!(
            raw_rows(&body, 2, 1).map_err(|error| error.to_string()),
            Err("the batch has 2 rows; send at most 1 per request".to_owned())
        );
    }

    fn outputs(json: &str, task: &Task) -> Result<Vec<(&'static str, bool)>, String> {
        let request = InferenceRequest::parse(json.as_bytes()).map_err(|e| e.to_string())?;
        request
            .wanted_outputs(task)
            .map(|wanted| {
                wanted
                    .into_iter()
                    .map(|wanted| (wanted.output.name(), wanted.binary))
                    .collect()
            })
            .map_err(|error| error.to_string())
    }

    #[test]
    fn outputs_default_to_all_and_binary_follows_the_parameters() {
        let classifier = Task::Classifier {
            labels: ClassLabels::Integers(vec![0, 1]),
        };
        assert_eq!(
            outputs(r#"{"inputs": []}"#, &classifier),
            Ok(vec![("predict", false), ("predict_proba", false)])
        );
        assert_eq!(
            outputs(
                r#"{"inputs": [], "outputs": [], "parameters": {"binary_data_output": true}}"#,
                &classifier
            ),
            Ok(vec![("predict", true), ("predict_proba", true)])
        );
        let mixed = r#"{"inputs": [], "parameters": {"binary_data_output": true}, "outputs": [
            {"name": "predict_proba", "parameters": {"binary_data": false}}, {"name": "predict"}]}"#;
        assert_eq!(
            outputs(mixed, &classifier),
            Ok(vec![("predict_proba", false), ("predict", true)])
        );
        assert_eq!(
            outputs(
                r#"{"inputs": [], "outputs": [{"name": "predict_proba"}]}"#,
                &Task::Regressor {}
            ),
            Err("the model has no output `predict_proba`; it produces `predict` only".to_owned())
        );
        assert_eq!(
            outputs(
                r#"{"inputs": [], "outputs": [{"name": "label"}]}"#,
                &classifier
            ),
            Err(
                "the model has no output `label`; it produces `predict` and `predict_proba`"
                    .to_owned()
            )
        );
        assert_eq!(
            outputs(
                r#"{"inputs": [], "outputs": [{"name": "predict"}, {"name": "predict"}]}"#,
                &classifier
            ),
            Err("output `predict` is requested twice; ask for each output once".to_owned())
        );
        let classification = r#"{"inputs": [], "outputs": [{"name": "predict", "parameters": {"classification": 2}}]}"#;
        assert!(
            outputs(classification, &classifier)
                .expect_err("classification")
                .starts_with("output `predict`: parameter `classification` is not supported")
        );
    }
}
