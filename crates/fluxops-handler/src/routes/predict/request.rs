//! The body of `POST /api/predict`, parsed in one pass that refuses a batch as soon as it has
//! one row too many, before the rest of the body is read, and packs the rows into one flat
//! buffer instead of a vector per row.

use std::fmt;

use fluxops_inference::InputError;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::ApiError;

/// A prediction request: one row, or a batch.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// `features`: one row.
    One(Vec<f64>),
    /// `instances`: rows, all of the model's width.
    Batch(Rows),
}

/// The rows of a batch, row after row in one buffer.
#[derive(Debug, PartialEq)]
pub(crate) struct Rows {
    /// Every value, row-major.
    pub(crate) values: Vec<f64>,
    /// Number of rows.
    pub(crate) n_rows: usize,
    /// The first row whose width is not the model's, as an input error; reported once the
    /// whole body has proved to be well-formed, so that a syntax or type error later in the
    /// body is still the answer, as for any other body.
    wrong_width: Option<InputError>,
}

/// What the parser checks while it reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    /// Most rows a batch may have.
    pub(crate) max_batch: usize,
    /// The width every row of a batch must have, when a model is loaded to say it.
    pub(crate) n_features: Option<usize>,
}

/// Parses a request body, which must be a JSON object with exactly one of `features` and
/// `instances`; other fields are ignored.
pub(crate) fn parse(body: &[u8], expect: Expect) -> Result<Parsed, ApiError> {
    let mut refusal = None;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = RequestSeed {
        expect,
        refusal: &mut refusal,
    }
    .deserialize(&mut deserializer)
    .and_then(|request| deserializer.end().map(|()| request));
    // A refusal found while parsing (a batch too large, both fields) ends the parse early with a
    // placeholder error; the refusal is the answer.
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    let (features, rows) = parsed.map_err(|error| ApiError::from_json(&error))?;
    match (features, rows) {
        (Some(features), None) => Ok(Parsed::One(features)),
        (None, Some(rows)) if rows.n_rows == 0 => Err(ApiError::EmptyBatch),
        (
            None,
            Some(Rows {
                wrong_width: Some(error),
                ..
            }),
        ) => Err(ApiError::from_input(error, expect.n_features.unwrap_or(0))),
        (None, Some(rows)) => Ok(Parsed::Batch(rows)),
        (None, None) => Err(ApiError::MissingFeatures),
        (Some(_), Some(_)) => Err(ApiError::FeaturesAndInstances),
    }
}

/// The whole body.
struct RequestSeed<'a> {
    expect: Expect,
    refusal: &'a mut Option<ApiError>,
}

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = (Option<Vec<f64>>, Option<Rows>);

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = (Option<Vec<f64>>, Option<Rows>);

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object with `features` or `instances`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut features: Option<Option<Vec<f64>>> = None;
        let mut rows: Option<Option<Rows>> = None;
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Features => {
                    if features.is_some() {
                        return Err(de::Error::duplicate_field("features"));
                    }
                    features = Some(map.next_value()?);
                }
                Field::Instances => {
                    if rows.is_some() {
                        return Err(de::Error::duplicate_field("instances"));
                    }
                    let seed = OptionalRows(RowsSeed {
                        expect: self.expect,
                        refusal: &mut *self.refusal,
                    });
                    rows = Some(map.next_value_seed(seed)?);
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if let (Some(Some(_)), Some(Some(_))) = (&features, &rows) {
                // Stop here: the rest of the body cannot make the request valid.
                *self.refusal = Some(ApiError::FeaturesAndInstances);
                return Err(de::Error::custom("both `features` and `instances`"));
            }
        }
        Ok((features.flatten(), rows.flatten()))
    }
}

/// A key of the request object.
enum Field {
    Features,
    Instances,
    Other,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a field name")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "features" => Field::Features,
                    "instances" => Field::Instances,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// `instances`, which may be `null` (as if it were absent).
struct OptionalRows<'a>(RowsSeed<'a>);

impl<'de> DeserializeSeed<'de> for OptionalRows<'_> {
    type Value = Option<Rows>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionalRows<'_> {
    type Value = Option<Rows>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of rows")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// The array of rows: counted as they come, so one row past `max_batch` ends the parse.
struct RowsSeed<'a> {
    expect: Expect,
    refusal: &'a mut Option<ApiError>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Rows;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Rows;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
        let Expect {
            max_batch,
            n_features,
        } = self.expect;
        let mut values = Vec::with_capacity(
            n_features
                .unwrap_or(0)
                .saturating_mul(seq.size_hint().unwrap_or(0).min(max_batch)),
        );
        let mut n_rows = 0;
        let mut wrong_width = None;
        loop {
            let start = values.len();
            if n_rows == max_batch {
                // One more row is one too many: refuse it without reading the rest of the body.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    *self.refusal = Some(ApiError::BatchTooLarge { limit: max_batch });
                    return Err(de::Error::custom("too many rows"));
                }
                break;
            }
            if seq.next_element_seed(RowSeed(&mut values))?.is_none() {
                break;
            }
            let width = values.len() - start;
            if let Some(expected) = n_features
                && width != expected
                && wrong_width.is_none()
            {
                wrong_width = Some(InputError::WrongFeatureCount {
                    row: Some(n_rows),
                    expected,
                    actual: width,
                });
            }
            n_rows += 1;
        }
        Ok(Rows {
            values,
            n_rows,
            wrong_width,
        })
    }
}

/// One row, appended to the batch's buffer.
struct RowSeed<'a>(&'a mut Vec<f64>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a row: an array of numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<f64>()? {
            self.0.push(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    const EXPECT: Expect = Expect {
        max_batch: 3,
        n_features: Some(2),
    };

    #[test]
    fn one_row_or_a_flat_batch() {
        assert_eq!(
            parse(br#"{"features": [1, 2.5], "extra": {"x": [1]}}"#, EXPECT),
            Ok(Parsed::One(vec![1.0, 2.5]))
        );
        assert_eq!(
            parse(br#"{"instances": [[1, 2], [3, 4]]}"#, EXPECT),
            Ok(Parsed::Batch(Rows {
                values: vec![1.0, 2.0, 3.0, 4.0],
                n_rows: 2,
                wrong_width: None,
            }))
        );
    }

    #[test]
    fn each_refusal_has_its_own_code() {
        let code = |body: &str| parse(body.as_bytes(), EXPECT).unwrap_err().code();
        assert_eq!(
            code(r#"{"features": [1, 2], "instances": [[1, 2]]}"#),
            "features_and_instances"
        );
        assert_eq!(
            code(r#"{"instances": [[1, 2]], "features": [1, 2]}"#),
            "features_and_instances"
        );
        assert_eq!(
            code(r#"{"instances": null, "features": null}"#),
            "missing_features"
        );
        assert_eq!(code(r#"{"instances": []}"#), "empty_batch");
        assert_eq!(
            code(r#"{"instances": [[1, 2], [1, 2], [1, 2], [1, 2]]}"#),
            "batch_too_large"
        );
        assert_eq!(
            code(r#"{"instances": [[1, 2], [1]]}"#),
            "wrong_feature_count"
        );
        assert_eq!(
            code(r#"{"features": [1], "features": [1]}"#),
            "invalid_request"
        );
        assert_eq!(code(r#"[[1, 2]]"#), "invalid_request");
        assert_eq!(
            code(r#"{"instances": [[1, 2], [1]], "x": }"#),
            "invalid_json"
        );
        // A type error after a row of the wrong width is the answer, as without the width check.
        assert_eq!(code(r#"{"instances": [[1], ["2"]]}"#), "invalid_request");
    }

    #[test]
    fn a_wrong_width_names_the_row() {
        let error = parse(br#"{"instances": [[1, 2], [1, 2], [1]]}"#, EXPECT).unwrap_err();
        assert_eq!(
            error.to_string(),
            "row 2: expected 2 features, got 1; send every row of `instances` as [2 numbers]"
        );
        // Without a model to say the width, rows of any width are parsed.
        let any_width = Expect {
            n_features: None,
            ..EXPECT
        };
        assert!(parse(br#"{"instances": [[1, 2], [1]]}"#, any_width).is_ok());
    }

    /// A reader that counts the bytes taken from it.
    struct Counted<'a> {
        bytes: &'a [u8],
        taken: usize,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            let n = self.bytes[self.taken..].len().min(buffer.len()).min(64);
            buffer[..n].copy_from_slice(&self.bytes[self.taken..self.taken + n]);
            self.taken += n;
            Ok(n)
        }
    }

    #[test]
    fn a_batch_one_row_too_large_is_refused_before_the_rest_is_read() {
        let body = format!("{{\"instances\": [{}[1, 2]]}}", "[1, 2], ".repeat(100_000));
        let mut reader = Counted {
            bytes: body.as_bytes(),
            taken: 0,
        };
        let mut refusal = None;
        let mut deserializer = serde_json::Deserializer::from_reader(&mut reader);
        let parsed = RequestSeed {
            expect: EXPECT,
            refusal: &mut refusal,
        }
        .deserialize(&mut deserializer);
        assert!(parsed.is_err());
        assert_eq!(refusal.map(|error| error.code()), Some("batch_too_large"));
        assert!(
            reader.taken < 200,
            "read {} of {} bytes",
            reader.taken,
            body.len()
        );
    }
}
