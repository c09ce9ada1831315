//! Input tensors: the protocol's datatypes, and the JSON and binary decoders that turn a
//! tensor's elements into the `f64` feature values the model reads.
//!
//! Every datatype but FP16, BF16 and BYTES can carry features: FP64 as it is, FP32 widened
//! exactly (the values a client meant are the `f32`s, so JSON numbers are rounded to `f32`
//! first), the integer types as their values, and BOOL as 0 and 1. Decoders allocate only for
//! elements actually present, never for a declared size.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::error::V2Error;

/// A tensor datatype, as the protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Datatype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Fp32,
    Fp64,
    Bf16,
    Bytes,
}

/// Every datatype with its name on the wire.
const NAMES: [(Datatype, &str); 14] = [
    (Datatype::Bool, "BOOL"),
    (Datatype::Uint8, "UINT8"),
    (Datatype::Uint16, "UINT16"),
    (Datatype::Uint32, "UINT32"),
    (Datatype::Uint64, "UINT64"),
    (Datatype::Int8, "INT8"),
    (Datatype::Int16, "INT16"),
    (Datatype::Int32, "INT32"),
    (Datatype::Int64, "INT64"),
    (Datatype::Fp16, "FP16"),
    (Datatype::Fp32, "FP32"),
    (Datatype::Fp64, "FP64"),
    (Datatype::Bf16, "BF16"),
    (Datatype::Bytes, "BYTES"),
];

impl Datatype {
    /// The datatype of an input tensor, refusing names the protocol does not define and
    /// datatypes that cannot carry feature values (FP16, BF16, BYTES).
    pub(crate) fn of_input(name: &str, input: &str) -> Result<Self, V2Error> {
        let unsupported = |reason| V2Error::UnsupportedDatatype {
            input: super::error::bounded(input),
            datatype: super::error::bounded(name),
            reason,
        };
        let datatype = NAMES
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(datatype, _)| *datatype)
            .ok_or_else(|| unsupported("is not a tensor datatype"))?;
        match datatype {
            Datatype::Fp16 | Datatype::Bf16 | Datatype::Bytes => {
                Err(unsupported("cannot be a feature value here"))
            }
            _ => Ok(datatype),
        }
    }

    /// The name on the wire.
    pub(crate) fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(datatype, _)| *datatype == self)
            .map(|(_, name)| *name)
            .expect("NAMES lists every datatype")
    }

    /// Bytes per element in binary data (BYTES elements have no fixed size: `None`).
    pub(crate) fn element_size(self) -> Option<usize> {
        match self {
            Datatype::Bool | Datatype::Uint8 | Datatype::Int8 => Some(1),
            Datatype::Uint16 | Datatype::Int16 | Datatype::Fp16 | Datatype::Bf16 => Some(2),
            Datatype::Uint32 | Datatype::Int32 | Datatype::Fp32 => Some(4),
            Datatype::Uint64 | Datatype::Int64 | Datatype::Fp64 => Some(8),
            Datatype::Bytes => None,
        }
    }

    /// The smallest and largest value of an integer datatype.
    fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Datatype::Uint8 => (0, u8::MAX.into()),
            Datatype::Uint16 => (0, u16::MAX.into()),
            Datatype::Uint32 => (0, u32::MAX.into()),
            Datatype::Uint64 => (0, u64::MAX.into()),
            Datatype::Int8 => (i8::MIN.into(), i8::MAX.into()),
            Datatype::Int16 => (i16::MIN.into(), i16::MAX.into()),
            Datatype::Int32 => (i32::MIN.into(), i32::MAX.into()),
            Datatype::Int64 => (i64::MIN.into(), i64::MAX.into()),
            _ => return None,
        })
    }
}

/// Decodes binary tensor data (little-endian, row-major, no padding) into feature values.
///
/// `bytes` must hold whole elements of `datatype` (the caller checked the size against the
/// shape); BOOL elements must be the bytes 0 or 1.
pub(crate) fn decode_binary(
    bytes: &[u8],
    datatype: Datatype,
    input: &str,
) -> Result<Vec<f64>, V2Error> {
    Ok(match datatype {
        Datatype::Fp64 => decode(bytes, f64::from_le_bytes),
        Datatype::Fp32 => decode(bytes, |b| f64::from(f32::from_le_bytes(b))),
        Datatype::Int8 => decode(bytes, |b| f64::from(i8::from_le_bytes(b))),
        Datatype::Int16 => decode(bytes, |b| f64::from(i16::from_le_bytes(b))),
        Datatype::Int32 => decode(bytes, |b| f64::from(i32::from_le_bytes(b))),
        // A feature is an `f64`: 64-bit integers beyond 2^53 become the nearest one.
        Datatype::Int64 => decode(bytes, |b| i64::from_le_bytes(b) as f64),
        Datatype::Uint8 => decode(bytes, |b| f64::from(u8::from_le_bytes(b))),
        Datatype::Uint16 => decode(bytes, |b| f64::from(u16::from_le_bytes(b))),
        Datatype::Uint32 => decode(bytes, |b| f64::from(u32::from_le_bytes(b))),
        Datatype::Uint64 => decode(bytes, |b| u64::from_le_bytes(b) as f64),
        Datatype::Bool => {
            if let Some(index) = bytes.iter().position(|&byte| byte > 1) {
                return Err(V2Error::BadElement {
                    input: super::error::bounded(input),
                    index,
                    problem: format!(
                        "is the byte {}; a BOOL is the byte 0 (false) or 1 (true)",
                        bytes[index]
                    ),
                });
            }
            bytes.iter().map(|&byte| f64::from(byte)).collect()
        }
        Datatype::Fp16 | Datatype::Bf16 | Datatype::Bytes => {
            unreachable!("Datatype::of_input refuses datatypes that cannot be features")
        }
    })
}

/// Each `N`-byte element of `bytes` through `convert`; one allocation of the exact size.
fn decode<const N: usize>(bytes: &[u8], convert: impl Fn([u8; N]) -> f64) -> Vec<f64> {
    bytes
        .chunks_exact(N)
        .map(|chunk| convert(chunk.try_into().expect("chunks_exact yields N bytes")))
        .collect()
}

/// The elements of a JSON `data` array, nested or flat, in row-major order, read straight into
/// `f64`s, with what the datatype check after parsing needs to know (the datatype may come after
/// `data` in the object).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct JsonTensor {
    values: Vec<f64>,
    first_bool: Option<usize>,
    first_number: Option<usize>,
    /// The first number written with a fraction or an exponent.
    first_fraction: Option<usize>,
    /// The smallest and largest integers, each with its index.
    smallest_integer: Option<(i128, usize)>,
    largest_integer: Option<(i128, usize)>,
}

impl JsonTensor {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The feature values, after checking every element fits `datatype` (for FP32: rounded to
    /// `f32`, then widened exactly).
    pub(crate) fn into_features(
        mut self,
        datatype: Datatype,
        input: &str,
    ) -> Result<Vec<f64>, V2Error> {
        let bad = |index: usize, problem: String| V2Error::BadElement {
            input: super::error::bounded(input),
            index,
            problem,
        };
        if datatype == Datatype::Bool {
            return match self.first_number {
                Some(index) => Err(bad(
                    index,
                    format!(
                        "is the number {}; a BOOL element is true or false",
                        self.values[index]
                    ),
                )),
                None => Ok(self.values),
            };
        }
        if let Some(index) = self.first_bool {
            return Err(bad(
                index,
                format!("is a boolean; send numbers for {}", datatype.name()),
            ));
        }
        if let Some((min, max)) = datatype.integer_range() {
            if let Some(index) = self.first_fraction {
                return Err(bad(
                    index,
                    format!(
                        "is {}, not an integer as {} needs",
                        self.values[index],
                        datatype.name()
                    ),
                ));
            }
            for (value, index) in [self.smallest_integer, self.largest_integer]
                .into_iter()
                .flatten()
            {
                if value < min || value > max {
                    return Err(bad(
                        index,
                        format!(
                            "is {value}, outside {}'s range {min} to {max}",
                            datatype.name()
                        ),
                    ));
                }
            }
        }
        if datatype == Datatype::Fp32 {
            for (index, value) in self.values.iter_mut().enumerate() {
                let narrowed = *value as f32;
                if !narrowed.is_finite() {
                    return Err(bad(index, format!("is {value}, beyond FP32's range")));
                }
                *value = f64::from(narrowed);
            }
        }
        Ok(self.values)
    }

    fn push_integer(&mut self, value: i128) {
        let index = self.values.len();
        self.first_number.get_or_insert(index);
        if self
            .smallest_integer
            .is_none_or(|(smallest, _)| value < smallest)
        {
            self.smallest_integer = Some((value, index));
        }
        if self
            .largest_integer
            .is_none_or(|(largest, _)| value > largest)
        {
            self.largest_integer = Some((value, index));
        }
        // Exact up to 2^53; a feature is an `f64` either way.
        self.values.push(value as f64);
    }
}

impl<'de> Deserialize<'de> for JsonTensor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut tensor = JsonTensor {
            // A row of features needs no reallocation.
            values: Vec::with_capacity(16),
            ..JsonTensor::default()
        };
        deserializer.deserialize_seq(Elements(&mut tensor))?;
        Ok(tensor)
    }
}

/// Reads one JSON value of a `data` array (a number, a boolean or a nested array) into the
/// tensor; nesting depth is bounded by the JSON parser's own recursion limit.
struct Elements<'t>(&'t mut JsonTensor);

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("numbers or booleans, in arrays nested as the shape or flat")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Elements(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        let tensor = self.0;
        tensor.first_bool.get_or_insert(tensor.values.len());
        tensor.values.push(f64::from(u8::from(value)));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.0.push_integer(value.into());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.0.push_integer(value.into());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        let tensor = self.0;
        let index = tensor.values.len();
        tensor.first_number.get_or_insert(index);
        tensor.first_fraction.get_or_insert(index);
        tensor.values.push(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> JsonTensor {
        serde_json::from_str(text).expect("a JSON tensor")
    }

    fn features(text: &str, datatype: &str) -> Result<Vec<f64>, String> {
        let datatype = Datatype::of_input(datatype, "x").map_err(|error| error.to_string())?;
        json(text)
            .into_features(datatype, "x")
            .map_err(|error| error.to_string())
    }

    #[test]
    fn nested_and_flat_data_read_the_same_row_major_values() {
        assert_eq!(json("[[1, 2.5], [3, 4]]").values, vec![1.0, 2.5, 3.0, 4.0]);
        assert_eq!(json("[1, 2.5, 3, 4]").values, vec![1.0, 2.5, 3.0, 4.0]);
        assert_eq!(json("[[[1]], [], [[2, 3]]]").len(), 3);
        assert_eq!(json("[]").len(), 0);
    }

    #[test]
    fn data_must_be_an_array_of_numbers_or_booleans() {
        for bad in ["1", "\"1\"", "[\"1\"]", "[null]", "[{\"a\": 1}]", "{}"] {
            assert!(
                serde_json::from_str::<JsonTensor>(bad).is_err(),
                "{bad} was accepted"
            );
        }
        // The parser's recursion limit bounds nesting.
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        assert!(serde_json::from_str::<JsonTensor>(&deep).is_err());
    }

    #[test]
    fn floats_take_any_number_and_fp32_means_the_f32_values() {
        assert_eq!(
            features("[0.1, 2, -3e2]", "FP64"),
            Ok(vec![0.1, 2.0, -300.0])
        );
        let fp32 = features("[0.1, 0.10000000149011612, 16777217]", "FP32").expect("FP32");
        assert_eq!(
            fp32,
            vec![f64::from(0.1_f32), f64::from(0.1_f32), 16_777_216.0]
        );
        assert_eq!(
            features("[1, 1e39]", "FP32"),
            Err("input `x`: element 1 is 1000000000000000000000000000000000000000, beyond FP32's range".to_owned())
        );
        assert_eq!(
            features("[1, true]", "FP64"),
            Err("input `x`: element 1 is a boolean; send numbers for FP64".to_owned())
        );
    }

    #[test]
    fn integer_types_take_integers_within_their_range() {
        assert_eq!(
            features("[-128, 127, 0]", "INT8"),
            Ok(vec![-128.0, 127.0, 0.0])
        );
        assert_eq!(
            features("[0, 255, 256]", "UINT8"),
            Err("input `x`: element 2 is 256, outside UINT8's range 0 to 255".to_owned())
        );
        assert_eq!(
            features("[3, -1]", "UINT64"),
            Err(
                "input `x`: element 1 is -1, outside UINT64's range 0 to 18446744073709551615"
                    .to_owned()
            )
        );
        assert_eq!(
            features("[1, 1.5]", "INT32"),
            Err("input `x`: element 1 is 1.5, not an integer as INT32 needs".to_owned())
        );
        assert!(
            features("[1.0]", "INT64").is_err(),
            "1.0 is written as a float"
        );
        assert_eq!(
            features("[18446744073709551615]", "UINT64"),
            Ok(vec![18_446_744_073_709_551_615_u64 as f64])
        );
    }

    #[test]
    fn booleans_are_zero_and_one() {
        assert_eq!(features("[true, false]", "BOOL"), Ok(vec![1.0, 0.0]));
        assert_eq!(
            features("[true, 1]", "BOOL"),
            Err("input `x`: element 1 is the number 1; a BOOL element is true or false".to_owned())
        );
    }

    #[test]
    fn datatype_names_are_the_protocols() {
        assert_eq!(Datatype::of_input("FP64", "x"), Ok(Datatype::Fp64));
        assert_eq!(Datatype::Uint16.name(), "UINT16");
        for (datatype, name) in NAMES {
            assert_eq!(datatype.name(), name);
        }
        let error = Datatype::of_input("float64", "x").expect_err("not a protocol name");
        assert!(
            error
                .to_string()
                .contains("`float64` is not a tensor datatype"),
            "{error}"
        );
        let error = Datatype::of_input("BYTES", "x").expect_err("not a feature");
        assert!(
            error.to_string().contains("cannot be a feature value"),
            "{error}"
        );
        assert!(Datatype::of_input("FP16", "x").is_err());
        assert!(Datatype::of_input("fp64", "x").is_err());
    }

    #[test]
    fn binary_elements_are_little_endian_and_exactly_widened() {
        let fp64: Vec<u8> = [0.1_f64, -2.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            decode_binary(&fp64, Datatype::Fp64, "x"),
            Ok(vec![0.1, -2.5])
        );
        let fp32: Vec<u8> = [0.1_f32, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            decode_binary(&fp32, Datatype::Fp32, "x"),
            Ok(vec![f64::from(0.1_f32), 3.0])
        );
        assert_eq!(
            decode_binary(&[0xff, 0x7f], Datatype::Int8, "x"),
            Ok(vec![-1.0, 127.0])
        );
        assert_eq!(
            decode_binary(&[0x01, 0x02], Datatype::Uint16, "x"),
            Ok(vec![513.0])
        );
        assert_eq!(
            decode_binary(&(-7_i64).to_le_bytes(), Datatype::Int64, "x"),
            Ok(vec![-7.0])
        );
        assert_eq!(
            decode_binary(&[1, 0], Datatype::Bool, "x"),
            Ok(vec![1.0, 0.0])
        );
        let error = decode_binary(&[1, 2], Datatype::Bool, "x").expect_err("2 is no BOOL");
        assert!(
            error.to_string().contains("element 1 is the byte 2"),
            "{error}"
        );
        assert_eq!(decode_binary(&[], Datatype::Fp64, "x"), Ok(vec![]));
        // NaN and infinity pass here; the inference core refuses them with the row and feature.
        let nan = f32::NAN.to_le_bytes();
        assert!(decode_binary(&nan, Datatype::Fp32, "x").is_ok_and(|v| v[0].is_nan()));
    }
}
