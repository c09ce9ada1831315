//! The few ONNX protobuf messages the importer reads, written by hand for `prost`'s derive, and
//! the checks that run before `prost` decodes them.
//!
//! Field numbers follow `onnx/onnx.proto` (proto2). Only the fields the importer uses are
//! declared; `prost` skips every other field without allocating. Enumerations are kept as
//! integers, so an unknown value is the analysis's to refuse, not a decode error.
//!
//! Decoding is bounded twice. The caller's byte cap comes first. Then a walk over the wire format
//! (`decoded_cost`) adds up what decoding would allocate for the declared fields: a two-byte empty
//! message becomes a struct of a few hundred bytes, so a hostile file of empty messages could
//! otherwise ask for a hundred times its size. The walk refuses a file whose decoded form would
//! exceed [`MAX_EXPANSION`] times its size; real models stay well under that (their largest part,
//! packed one-byte varints, decodes to eight bytes each).

use prost::Message;

use crate::Error;

/// `ModelProto`: the file.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ModelProto {
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub producer_version: Option<String>,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// `OperatorSetIdProto`: one (domain, version) the model imports.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct OperatorSetIdProto {
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// `GraphProto`: nodes, initializers, inputs and outputs.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator call.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, optional, tag = "7")]
    pub domain: Option<String>,
}

/// `AttributeProto`: a named constant of a node.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct AttributeProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    #[prost(message, optional, boxed, tag = "5")]
    pub t: Option<Box<TensorProto>>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    /// `AttributeProto.AttributeType`.
    #[prost(int32, optional, tag = "20")]
    pub r#type: Option<i32>,
}

/// `AttributeProto.AttributeType` values the importer reads.
pub(crate) mod attribute_type {
    pub const FLOAT: i32 = 1;
    pub const INT: i32 = 2;
    pub const STRING: i32 = 3;
    pub const TENSOR: i32 = 4;
    pub const FLOATS: i32 = 6;
    pub const INTS: i32 = 7;
    pub const STRINGS: i32 = 8;
}

/// `TensorProto`: a typed array, inline or in `raw_data` (little-endian).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// `TensorProto.DataType`.
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// `TensorProto.DataLocation`: 1 means the values live in another file.
    #[prost(int32, optional, tag = "14")]
    pub data_location: Option<i32>,
}

/// `TensorProto.DataType` values the importer reads.
pub(crate) mod data_type {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT64: i32 = 7;
    pub const STRING: i32 = 8;
    pub const DOUBLE: i32 = 11;

    /// The ONNX name of a data type, for messages.
    pub fn name(data_type: i32) -> &'static str {
        match data_type {
            FLOAT => "float",
            UINT8 => "uint8",
            3 => "int8",
            4 => "uint16",
            5 => "int16",
            6 => "int32",
            INT64 => "int64",
            STRING => "string",
            9 => "bool",
            10 => "float16",
            DOUBLE => "double",
            12 => "uint32",
            13 => "uint64",
            16 => "bfloat16",
            _ => "an unusual type",
        }
    }
}

/// `ValueInfoProto`: a graph input or output and its type.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ValueInfoProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `TypeProto`, of which only the tensor case is read (its `oneof` member 1).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

/// `TypeProto.Tensor`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TensorTypeProto {
    #[prost(int32, optional, tag = "1")]
    pub elem_type: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<DimensionProto>,
}

/// `TensorShapeProto.Dimension`: a size, a symbolic name, or neither.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct DimensionProto {
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

/// How many times its own size a file may take once decoded.
pub(crate) const MAX_EXPANSION: usize = 16;

/// What any decoded message struct costs at most, whatever it holds (see the size test).
const MESSAGE_COST: usize = 256;

/// Decodes an ONNX file after checking its size against `max_bytes` and what its decoded form
/// would cost.
pub(crate) fn decode_model(bytes: &[u8], max_bytes: usize) -> Result<ModelProto, Error> {
    if bytes.len() > max_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let cost = decoded_cost(bytes, MODEL)
        .map_err(|reason| Error::NotOnnx(format!("its protobuf encoding is broken: {reason}")))?;
    let budget = bytes
        .len()
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(64 * 1024);
    if cost > budget {
        return Err(Error::NotOnnx(format!(
            "decoding it would take {cost} bytes of memory, more than {MAX_EXPANSION} times its \
             size; no real model is built that way"
        )));
    }
    ModelProto::decode(bytes).map_err(|error| Error::NotOnnx(error.to_string()))
}

/// What the pre-scan knows about a declared field.
#[derive(Clone, Copy)]
enum Field {
    /// A nested message with these declared fields.
    Message(&'static [(u32, Field)]),
    /// A string or bytes: costs its length.
    Bytes,
    /// Varint numbers (int32, int64, enums), packed or not: eight bytes each once decoded.
    Varints,
    /// Four-byte numbers (float).
    Fixed32,
    /// Eight-byte numbers (double).
    Fixed64,
}

use Field::{Bytes, Fixed32, Fixed64, Message as Msg, Varints};

const MODEL: &[(u32, Field)] = &[(2, Bytes), (3, Bytes), (7, Msg(GRAPH)), (8, Msg(OPSET))];
const OPSET: &[(u32, Field)] = &[(1, Bytes)];
const GRAPH: &[(u32, Field)] = &[
    (1, Msg(NODE)),
    (5, Msg(TENSOR)),
    (11, Msg(VALUE_INFO)),
    (12, Msg(VALUE_INFO)),
];
const NODE: &[(u32, Field)] = &[
    (1, Bytes),
    (2, Bytes),
    (3, Bytes),
    (4, Bytes),
    (5, Msg(ATTRIBUTE)),
    (7, Bytes),
];
const ATTRIBUTE: &[(u32, Field)] = &[
    (1, Bytes),
    (4, Bytes),
    (5, Msg(TENSOR)),
    (7, Fixed32),
    (8, Varints),
    (9, Bytes),
];
const TENSOR: &[(u32, Field)] = &[
    (1, Varints),
    (4, Fixed32),
    (5, Varints),
    (7, Varints),
    (8, Bytes),
    (9, Bytes),
    (10, Fixed64),
];
const VALUE_INFO: &[(u32, Field)] = &[(1, Bytes), (2, Msg(TYPE))];
const TYPE: &[(u32, Field)] = &[(1, Msg(TENSOR_TYPE))];
const TENSOR_TYPE: &[(u32, Field)] = &[(2, Msg(SHAPE))];
const SHAPE: &[(u32, Field)] = &[(1, Msg(DIMENSION))];
const DIMENSION: &[(u32, Field)] = &[(2, Bytes)];

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

/// Walks one message's wire format and adds up the heap its declared fields would take once
/// decoded, checking every length against the bytes that are there. The schema has no cycles,
/// so the recursion is as deep as the schema (six levels) whatever the input.
fn decoded_cost(mut bytes: &[u8], fields: &[(u32, Field)]) -> Result<usize, &'static str> {
    let mut cost = 0usize;
    while !bytes.is_empty() {
        let key = read_varint(&mut bytes)?;
        let (number, wire_type) = (key >> 3, key & 7);
        let field = fields
            .iter()
            .find(|(n, _)| u64::from(*n) == number)
            .map(|(_, f)| *f);
        let element_cost = match wire_type {
            VARINT => {
                read_varint(&mut bytes)?;
                8
            }
            FIXED64 => {
                take(&mut bytes, 8)?;
                8
            }
            FIXED32 => {
                take(&mut bytes, 4)?;
                4
            }
            LENGTH_DELIMITED => {
                let length =
                    usize::try_from(read_varint(&mut bytes)?).map_err(|_| "length overflows")?;
                let body = take(&mut bytes, length)?;
                match field {
                    Some(Msg(inner)) => MESSAGE_COST.saturating_add(decoded_cost(body, inner)?),
                    Some(Bytes) => body.len(),
                    Some(Varints) => 8 * body.iter().filter(|byte| **byte < 0x80).count(),
                    Some(Fixed32 | Fixed64) | None => body.len(),
                }
            }
            _ => {
                return Err(
                    "it uses protobuf groups or an unknown wire type, which ONNX never writes",
                );
            }
        };
        if field.is_some() {
            cost = cost.saturating_add(element_cost);
        }
    }
    Ok(cost)
}

fn read_varint(bytes: &mut &[u8]) -> Result<u64, &'static str> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or("a number is cut off")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("a number is longer than ten bytes")
}

fn take<'a>(bytes: &mut &'a [u8], length: usize) -> Result<&'a [u8], &'static str> {
    if length > bytes.len() {
        return Err("a field is longer than the bytes left");
    }
    let (head, rest) = bytes.split_at(length);
    *bytes = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_with_every_declared_message() -> ModelProto {
        let tensor = TensorProto {
            dims: vec![1],
            data_type: Some(data_type::FLOAT),
            float_data: vec![1.0],
            name: Some("one".into()),
            ..Default::default()
        };
        let value_info = ValueInfoProto {
            name: Some("X".into()),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: Some(data_type::FLOAT),
                    shape: Some(TensorShapeProto {
                        dim: vec![DimensionProto {
                            dim_param: Some("N".into()),
                            ..Default::default()
                        }],
                    }),
                }),
            }),
        };
        ModelProto {
            ir_version: Some(8),
            producer_name: Some("test".into()),
            producer_version: None,
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    op_type: Some("Identity".into()),
                    attribute: vec![AttributeProto {
                        name: Some("t".into()),
                        t: Some(Box::new(tensor.clone())),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                initializer: vec![tensor],
                input: vec![value_info.clone()],
                output: vec![value_info],
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            }],
        }
    }

    #[test]
    fn every_struct_fits_the_message_cost() {
        let sizes = [
            size_of::<ModelProto>(),
            size_of::<OperatorSetIdProto>(),
            size_of::<GraphProto>(),
            size_of::<NodeProto>(),
            size_of::<AttributeProto>(),
            size_of::<TensorProto>(),
            size_of::<ValueInfoProto>(),
            size_of::<TypeProto>(),
            size_of::<TensorTypeProto>(),
            size_of::<TensorShapeProto>(),
            size_of::<DimensionProto>(),
        ];
        assert!(sizes.iter().all(|size| *size <= MESSAGE_COST), "{sizes:?}");
    }

    #[test]
    fn the_scan_counts_every_declared_message() {
        // Graph, node, attribute, two tensors, two value infos with a type, tensor type, shape
        // and dimension each, and an opset: 16 messages. A field number that disagrees with the
        // prost structs leaves one uncounted.
        let bytes = model_with_every_declared_message().encode_to_vec();
        let cost = decoded_cost(&bytes, MODEL).expect("valid encoding");
        assert!(cost >= 16 * MESSAGE_COST, "cost {cost}");
        assert!(cost < 17 * MESSAGE_COST, "cost {cost}");
        assert_eq!(
            decode_model(&bytes, bytes.len()).expect("decodes"),
            model_with_every_declared_message()
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused_before_decoding() {
        let bytes = model_with_every_declared_message().encode_to_vec();
        let error = decode_model(&bytes, bytes.len() - 1).expect_err("over the cap");
        assert!(matches!(error, Error::TooLarge { .. }), "{error}");
    }

    #[test]
    fn many_empty_messages_are_refused_for_their_decoded_size() {
        // A graph (field 7) holding 100 000 empty nodes (field 1, length 0): 200 kB that would
        // decode to tens of megabytes.
        let nodes: Vec<u8> = [0x0a, 0x00].repeat(100_000);
        let mut bytes = vec![0x3a];
        let mut length = nodes.len();
        while length >= 0x80 {
            bytes.push((length as u8) | 0x80);
            length >>= 7;
        }
        bytes.push(length as u8);
        bytes.extend_from_slice(&nodes);
        let error = decode_model(&bytes, usize::MAX).expect_err("hostile");
        assert!(error.to_string().contains("times its size"), "{error}");
    }

    #[test]
    fn broken_encodings_are_refused_without_panicking() {
        for bytes in [
            &[0x3a, 0x05, 0x0a][..], // length beyond the end
            &[0x08][..],             // key without its value
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..], // 11-byte varint
            &[0x0b][..],             // start group
            &[0x12, 0x02, 0xc3, 0x28][..], // producer name that is not UTF-8
        ] {
            let error = decode_model(bytes, 1024).expect_err("broken");
            assert!(matches!(error, Error::NotOnnx(_)), "{error}");
        }
    }

    #[test]
    fn unknown_fields_are_skipped_and_cost_nothing() {
        // Field 20 (training_info) with 1000 bytes of junk inside.
        let mut bytes = vec![0xa2, 0x01, 0xe8, 0x07];
        bytes.extend(std::iter::repeat_n(0u8, 1000));
        assert_eq!(decoded_cost(&bytes, MODEL), Ok(0));
        assert_eq!(
            decode_model(&bytes, 2000).expect("skips it"),
            ModelProto::default()
        );
    }
}
