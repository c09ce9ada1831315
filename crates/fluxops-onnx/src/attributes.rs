//! Typed, checked access to a node's attributes and to tensor values.

use std::collections::BTreeMap;

use crate::Error;
use crate::ensemble::NumberType;
use crate::proto::{AttributeProto, NodeProto, TensorProto, attribute_type, data_type};

/// The attributes of one node, each name known to its operator and given once.
pub(crate) struct Attributes<'a> {
    op_type: &'a str,
    by_name: BTreeMap<&'a str, &'a AttributeProto>,
}

/// Numbers from a `FLOATS` attribute or a float/double tensor, widened to f64, with the type
/// they were declared as.
pub(crate) struct Numbers {
    pub values: Vec<f64>,
    pub declared: NumberType,
}

impl<'a> Attributes<'a> {
    /// Indexes `node`'s attributes, refusing names its operator does not define (`known`).
    pub fn new(node: &'a NodeProto, op_type: &'a str, known: &[&str]) -> Result<Self, Error> {
        let mut by_name = BTreeMap::new();
        for attribute in &node.attribute {
            let name = attribute.name.as_deref().unwrap_or_default();
            if !known.contains(&name) {
                return Err(Error::unsupported(
                    format!("attribute `{name}` of {op_type}"),
                    format!(
                        "it is not an attribute of {op_type}, so its meaning is unknown; \
                         export the model with a standard exporter (skl2onnx, onnxmltools)"
                    ),
                ));
            }
            if by_name.insert(name, attribute).is_some() {
                return Err(Error::invalid(
                    format!("attribute `{name}` of {op_type}"),
                    "it is given twice",
                ));
            }
        }
        Ok(Self { op_type, by_name })
    }

    fn what(&self, name: &str) -> String {
        format!("attribute `{name}` of {}", self.op_type)
    }

    /// The attribute, checked to be of `expected` type.
    fn typed(&self, name: &str, expected: i32) -> Result<Option<&'a AttributeProto>, Error> {
        let Some(attribute) = self.by_name.get(name).copied() else {
            return Ok(None);
        };
        match attribute.r#type {
            Some(found) if found == expected => Ok(Some(attribute)),
            found => Err(Error::invalid(
                self.what(name),
                format!(
                    "its type is {}, expected {}",
                    type_name(found),
                    type_name(Some(expected))
                ),
            )),
        }
    }

    pub fn require<T>(&self, name: &str, value: Option<T>) -> Result<T, Error> {
        value.ok_or_else(|| Error::invalid(self.what(name), "it is missing"))
    }

    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, Error> {
        Ok(self
            .typed(name, attribute_type::INTS)?
            .map(|a| a.ints.as_slice()))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, Error> {
        Ok(self
            .typed(name, attribute_type::INT)?
            .map(|a| a.i.unwrap_or_default()))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.typed(name, attribute_type::STRING)?
            .map(|a| utf8(a.s.as_deref().unwrap_or_default(), || self.what(name)))
            .transpose()
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
        self.typed(name, attribute_type::STRINGS)?
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| utf8(s, || self.what(name)))
                    .collect()
            })
            .transpose()
    }

    /// Numbers from a `FLOATS` attribute `name` or a tensor attribute `tensor_name` (at most one
    /// of the two may be given).
    pub fn numbers(&self, name: &str, tensor_name: &str) -> Result<Option<Numbers>, Error> {
        let floats = self.typed(name, attribute_type::FLOATS)?;
        let tensor = self.tensor_numbers(tensor_name)?;
        match (floats, tensor) {
            (Some(_), Some(_)) => Err(Error::invalid(
                self.what(tensor_name),
                format!("it is given together with `{name}`; give one of the two"),
            )),
            (Some(floats), None) => Ok(Some(Numbers {
                values: floats.floats.iter().map(|v| f64::from(*v)).collect(),
                declared: NumberType::F32,
            })),
            (None, tensor) => Ok(tensor),
        }
    }

    /// Numbers from a float or double tensor attribute.
    pub fn tensor_numbers(&self, name: &str) -> Result<Option<Numbers>, Error> {
        let Some(tensor) = self.typed(name, attribute_type::TENSOR)? else {
            return Ok(None);
        };
        let tensor = tensor
            .t
            .as_deref()
            .ok_or_else(|| Error::invalid(self.what(name), "it holds no tensor"))?;
        tensor_floats(tensor)
            .map(Some)
            .map_err(|problem| Error::invalid(self.what(name), problem))
    }

    /// Integers from a uint8 or int64 tensor attribute.
    pub fn tensor_ints(&self, name: &str) -> Result<Option<Vec<i64>>, Error> {
        let Some(tensor) = self.typed(name, attribute_type::TENSOR)? else {
            return Ok(None);
        };
        let tensor = tensor
            .t
            .as_deref()
            .ok_or_else(|| Error::invalid(self.what(name), "it holds no tensor"))?;
        tensor_integers(tensor)
            .map(Some)
            .map_err(|problem| Error::invalid(self.what(name), problem))
    }
}

fn utf8(bytes: &[u8], what: impl Fn() -> String) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::invalid(what(), "it is not UTF-8 text"))
}

fn type_name(attribute_type: Option<i32>) -> &'static str {
    match attribute_type {
        Some(attribute_type::FLOAT) => "FLOAT",
        Some(attribute_type::INT) => "INT",
        Some(attribute_type::STRING) => "STRING",
        Some(attribute_type::TENSOR) => "TENSOR",
        Some(attribute_type::FLOATS) => "FLOATS",
        Some(attribute_type::INTS) => "INTS",
        Some(attribute_type::STRINGS) => "STRINGS",
        None | Some(0) => "not set",
        Some(_) => "a type the importer does not read",
    }
}

/// The number of elements `tensor`'s dims declare.
fn element_count(tensor: &TensorProto) -> Result<usize, String> {
    tensor.dims.iter().try_fold(1usize, |count, dim| {
        usize::try_from(*dim)
            .ok()
            .and_then(|dim| count.checked_mul(dim))
            .ok_or_else(|| format!("its shape {:?} is not a size", tensor.dims))
    })
}

/// The tensor's values, from the typed field or `raw_data`, checked against its shape.
fn tensor_values<T>(
    tensor: &TensorProto,
    typed: &[T],
    width: usize,
    from_le: impl Fn(&[u8]) -> T,
) -> Result<Vec<T>, String>
where
    T: Copy,
{
    if tensor.data_location == Some(1) {
        return Err(
            "its values are stored in another file; save the model with its data inside".into(),
        );
    }
    let expected = element_count(tensor)?;
    let values = match tensor.raw_data.as_deref() {
        Some(raw) => {
            if raw.len() != expected.saturating_mul(width) {
                return Err(format!(
                    "it has {} bytes of data for {expected} values",
                    raw.len()
                ));
            }
            raw.chunks_exact(width).map(from_le).collect()
        }
        None => typed.to_vec(),
    };
    if values.len() != expected {
        return Err(format!(
            "it has {} values where its shape says {expected}",
            values.len()
        ));
    }
    Ok(values)
}

/// A float or double tensor's values, widened to f64.
pub(crate) fn tensor_floats(tensor: &TensorProto) -> Result<Numbers, String> {
    match tensor.data_type.unwrap_or_default() {
        data_type::FLOAT => {
            let values = tensor_values(tensor, &tensor.float_data, 4, |b| {
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            })?;
            Ok(Numbers {
                values: values.into_iter().map(f64::from).collect(),
                declared: NumberType::F32,
            })
        }
        data_type::DOUBLE => {
            let values = tensor_values(tensor, &tensor.double_data, 8, |b| {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            })?;
            Ok(Numbers {
                values,
                declared: NumberType::F64,
            })
        }
        other => Err(format!(
            "its element type is {}, expected float or double",
            data_type::name(other)
        )),
    }
}

/// A uint8 or int64 tensor's values.
fn tensor_integers(tensor: &TensorProto) -> Result<Vec<i64>, String> {
    match tensor.data_type.unwrap_or_default() {
        // ONNX stores uint8 values in `int32_data`.
        data_type::UINT8 => Ok(
            tensor_values(tensor, &tensor.int32_data, 1, |b| i32::from(b[0]))?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        data_type::INT64 => tensor_values(tensor, &tensor.int64_data, 8, |b| {
            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        }),
        other => Err(format!(
            "its element type is {}, expected uint8 or int64",
            data_type::name(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(data_type: i32, dims: Vec<i64>) -> TensorProto {
        TensorProto {
            data_type: Some(data_type),
            dims,
            ..Default::default()
        }
    }

    #[test]
    fn raw_and_typed_tensor_data_read_the_same() {
        let typed = TensorProto {
            double_data: vec![0.1, -2.5],
            ..tensor(data_type::DOUBLE, vec![2])
        };
        let raw = TensorProto {
            raw_data: Some([0.1f64.to_le_bytes(), (-2.5f64).to_le_bytes()].concat()),
            ..tensor(data_type::DOUBLE, vec![2])
        };
        for t in [typed, raw] {
            let numbers = tensor_floats(&t).expect("double tensor");
            assert_eq!(numbers.values, vec![0.1, -2.5]);
            assert_eq!(numbers.declared, NumberType::F64);
        }
        let modes = TensorProto {
            raw_data: Some(vec![0, 1, 3]),
            ..tensor(data_type::UINT8, vec![3])
        };
        assert_eq!(tensor_integers(&modes), Ok(vec![0, 1, 3]));
    }

    #[test]
    fn tensors_that_disagree_with_their_shape_are_refused() {
        let cases = [
            TensorProto {
                float_data: vec![1.0],
                ..tensor(data_type::FLOAT, vec![2])
            },
            TensorProto {
                raw_data: Some(vec![0; 7]),
                ..tensor(data_type::FLOAT, vec![2])
            },
            TensorProto {
                float_data: vec![1.0],
                ..tensor(data_type::FLOAT, vec![-1])
            },
            TensorProto {
                float_data: vec![],
                ..tensor(data_type::FLOAT, vec![i64::MAX, i64::MAX])
            },
            TensorProto {
                data_location: Some(1),
                ..tensor(data_type::FLOAT, vec![0])
            },
            TensorProto {
                int64_data: vec![1],
                ..tensor(data_type::INT64, vec![1])
            },
        ];
        for case in cases {
            assert!(tensor_floats(&case).is_err(), "{case:?}");
        }
    }

    #[test]
    fn unknown_repeated_and_mistyped_attributes_are_refused() {
        let attribute = |name: &str, r#type: i32| AttributeProto {
            name: Some(name.into()),
            r#type: Some(r#type),
            ..Default::default()
        };
        let node = |attributes: Vec<AttributeProto>| NodeProto {
            attribute: attributes,
            ..Default::default()
        };

        let unknown = node(vec![attribute("nodes_colours", attribute_type::INTS)]);
        let error = Attributes::new(&unknown, "TreeEnsembleRegressor", &["nodes_modes"]).err();
        assert!(
            matches!(error, Some(Error::Unsupported { ref what, .. }) if what.contains("nodes_colours")),
            "{error:?}"
        );

        let twice = node(vec![
            attribute("n_targets", attribute_type::INT),
            attribute("n_targets", attribute_type::INT),
        ]);
        assert!(Attributes::new(&twice, "TreeEnsembleRegressor", &["n_targets"]).is_err());

        let mistyped = node(vec![attribute("n_targets", attribute_type::FLOAT)]);
        let attributes =
            Attributes::new(&mistyped, "TreeEnsembleRegressor", &["n_targets"]).expect("known");
        let error = attributes.int("n_targets").expect_err("FLOAT is not INT");
        assert!(
            error
                .to_string()
                .contains("its type is FLOAT, expected INT"),
            "{error}"
        );
    }
}
