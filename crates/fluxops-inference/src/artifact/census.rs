//! A counting pass over an artifact's JSON: how many trees, nodes, leaf values, features,
//! outputs and metadata values it holds, found without keeping any of them, so that
//! [`ModelLimits`] can refuse a document before it is parsed for real.
//!
//! The census types mirror the layouts of format versions 1 and 2 only as far as counting needs;
//! they ignore every field they do not count, and the real parse checks the rest.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{ArtifactError, Limited};
use crate::limits::ModelLimits;

use super::FORMAT_VERSION;

/// Counts what `bytes` hold, checks the counts against `limits` and returns the document's
/// format version (one this build reads).
pub(super) fn check(bytes: &[u8], limits: &ModelLimits) -> Result<u32, ArtifactError> {
    let census: Census = match serde_json::from_slice(bytes) {
        Ok(census) => census,
        // Another version may have another layout: say so rather than what does not parse.
        Err(error) => {
            return Err(match serde_json::from_slice::<Header>(bytes) {
                Ok(header) if !is_readable(header.format_version) => {
                    ArtifactError::UnsupportedFormatVersion {
                        found: header.format_version,
                    }
                }
                _ => error.into(),
            });
        }
    };
    if !is_readable(census.format_version) {
        return Err(ArtifactError::UnsupportedFormatVersion {
            found: census.format_version,
        });
    }
    let (n_features, n_outputs, trees) =
        match (census.format_version, census.ensemble, census.forest) {
            (1, _, Some(forest)) => {
                // Conversion gives every leaf one value per class.
                let trees = TreesCensus {
                    n_leaf_values: forest.trees.n_leaves.saturating_mul(forest.n_classes),
                    ..forest.trees
                };
                (forest.n_features, forest.n_classes, trees)
            }
            (2, Some(ensemble), _) => (
                ensemble.n_features,
                ensemble.n_outputs.max(ensemble.base_values.0),
                ensemble.trees,
            ),
            // A document without its trees: the real parse says what is missing.
            _ => return Ok(census.format_version),
        };
    let n_feature_names = census
        .schema
        .as_ref()
        .map_or(0, |schema| schema.feature_names.0);
    let n_labels = census
        .schema
        .as_ref()
        .map_or(0, |schema| schema.task.n_labels());
    for (what, found) in [
        (Limited::Trees, trees.n_trees),
        (Limited::Nodes, trees.n_nodes),
        (Limited::LeafValues, trees.n_leaf_values),
        (Limited::Outputs, n_outputs.max(n_labels)),
        (Limited::Features, n_features.max(n_feature_names)),
        (Limited::MetadataValues, census.metadata.0),
    ] {
        limits.check(what, found)?;
    }
    Ok(census.format_version)
}

fn is_readable(format_version: u32) -> bool {
    (1..=FORMAT_VERSION).contains(&format_version)
}

#[derive(Deserialize)]
struct Header {
    format_version: u32,
}

#[derive(Deserialize)]
struct Census {
    format_version: u32,
    #[serde(default)]
    metadata: ValueCount,
    /// Format 2.
    schema: Option<SchemaCensus>,
    /// Format 2.
    ensemble: Option<EnsembleCensus>,
    /// Format 1.
    forest: Option<ForestCensus>,
}

#[derive(Deserialize)]
struct SchemaCensus {
    feature_names: SeqLen,
    task: TaskCensus,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum TaskCensus {
    Classifier { labels: LabelsCensus },
    Regressor(IgnoredAny),
}

impl TaskCensus {
    fn n_labels(&self) -> usize {
        match self {
            TaskCensus::Classifier {
                labels: LabelsCensus::Integers(labels) | LabelsCensus::Strings(labels),
            } => labels.0,
            TaskCensus::Regressor(_) => 0,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LabelsCensus {
    Integers(SeqLen),
    Strings(SeqLen),
}

#[derive(Deserialize)]
struct EnsembleCensus {
    n_features: usize,
    n_outputs: usize,
    /// One per output; counted so a long list is refused before it is parsed.
    #[serde(default)]
    base_values: SeqLen,
    trees: TreesCensus,
}

#[derive(Deserialize)]
struct ForestCensus {
    n_features: usize,
    n_classes: usize,
    trees: TreesCensus,
}

/// Counts over a list of trees.
#[derive(Debug, Default, PartialEq)]
struct TreesCensus {
    n_trees: usize,
    n_nodes: usize,
    n_leaves: usize,
    n_leaf_values: usize,
}

impl<'de> Deserialize<'de> for TreesCensus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TreesVisitor;
        impl<'de> Visitor<'de> for TreesVisitor {
            type Value = TreesCensus;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a list of trees")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut trees: A) -> Result<TreesCensus, A::Error> {
                let mut total = TreesCensus::default();
                while let Some(tree) = trees.next_element::<TreeCensus>()? {
                    total.n_trees += 1;
                    total.n_nodes += tree.nodes.n_nodes;
                    total.n_leaves += tree.nodes.n_leaves;
                    total.n_leaf_values += tree.nodes.n_leaf_values;
                }
                Ok(total)
            }
        }
        deserializer.deserialize_seq(TreesVisitor)
    }
}

#[derive(Deserialize)]
struct TreeCensus {
    nodes: NodesCensus,
}

/// Counts over one tree's node list.
struct NodesCensus {
    n_nodes: usize,
    n_leaves: usize,
    n_leaf_values: usize,
}

impl<'de> Deserialize<'de> for NodesCensus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodesVisitor;
        impl<'de> Visitor<'de> for NodesVisitor {
            type Value = NodesCensus;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a list of nodes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut nodes: A) -> Result<NodesCensus, A::Error> {
                let mut total = NodesCensus {
                    n_nodes: 0,
                    n_leaves: 0,
                    n_leaf_values: 0,
                };
                while let Some(node) = nodes.next_element::<NodeCensus>()? {
                    total.n_nodes += 1;
                    if let NodeCensus::Leaf(leaf) = node {
                        total.n_leaves += 1;
                        total.n_leaf_values += leaf.values.0;
                    }
                }
                Ok(total)
            }
        }
        deserializer.deserialize_seq(NodesVisitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum NodeCensus {
    Split(IgnoredAny),
    Leaf(LeafCensus),
}

#[derive(Deserialize)]
struct LeafCensus {
    /// Format 2; a format-1 leaf has a `class` instead.
    #[serde(default)]
    values: SeqLen,
}

/// The length of a list, whatever it holds.
#[derive(Default)]
struct SeqLen(usize);

impl<'de> Deserialize<'de> for SeqLen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqLenVisitor;
        impl<'de> Visitor<'de> for SeqLenVisitor {
            type Value = SeqLen;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<SeqLen, A::Error> {
                let mut len = 0;
                while items.next_element::<IgnoredAny>()?.is_some() {
                    len += 1;
                }
                Ok(SeqLen(len))
            }
        }
        deserializer.deserialize_seq(SeqLenVisitor)
    }
}

/// The number of JSON values in a document: each scalar, list and map counts one, plus what
/// it holds.
#[derive(Default)]
struct ValueCount(usize);

impl<'de> Deserialize<'de> for ValueCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = ValueCount;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ValueCount, E> {
                Ok(ValueCount(1))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ValueCount, E> {
                Ok(ValueCount(1))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ValueCount, E> {
                Ok(ValueCount(1))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ValueCount, E> {
                Ok(ValueCount(1))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ValueCount, E> {
                Ok(ValueCount(1))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ValueCount, E> {
                Ok(ValueCount(1))
            }
            fn visit_none<E: de::Error>(self) -> Result<ValueCount, E> {
                Ok(ValueCount(1))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<ValueCount, A::Error> {
                let mut count = 1_usize;
                while let Some(item) = items.next_element::<ValueCount>()? {
                    count = count.saturating_add(item.0);
                }
                Ok(ValueCount(count))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<ValueCount, A::Error> {
                let mut count = 1_usize;
                while entries.next_key::<IgnoredAny>()?.is_some() {
                    count = count.saturating_add(entries.next_value::<ValueCount>()?.0);
                }
                Ok(ValueCount(count))
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_trees_nodes_and_leaf_values_of_either_format() {
        let version_2 = br#"{"format_version":2,"metadata":{"a":[1,2,{"b":null}]},
            "schema":{"feature_names":["x","y"],"task":{"classifier":{"labels":{"strings":["a","b","c"]}}}},
            "ensemble":{"n_features":2,"n_outputs":3,"trees":[
                {"nodes":[{"split":{"feature":0,"threshold":1,"left":1,"right":2}},
                          {"leaf":{"values":[1,0,0]}},{"leaf":{"values":[0,1,0]}}]},
                {"nodes":[{"leaf":{"values":[0,0,1]}}]}]}}"#;
        let census: Census = serde_json::from_slice(version_2).unwrap();
        let ensemble = census.ensemble.unwrap();
        assert_eq!(
            ensemble.trees,
            TreesCensus {
                n_trees: 2,
                n_nodes: 4,
                n_leaves: 3,
                n_leaf_values: 9
            }
        );
        assert_eq!(census.metadata.0, 6);
        assert_eq!(census.schema.unwrap().task.n_labels(), 3);

        let version_1 = br#"{"format_version":1,"forest":{"n_features":2,"n_classes":4,"trees":[
                {"nodes":[{"split":{"feature":0,"threshold":1,"left":1,"right":2}},
                          {"leaf":{"class":0}},{"leaf":{"class":3}}]}]}}"#;
        let limits = ModelLimits {
            max_leaf_values: 7,
            ..ModelLimits::default()
        };
        // Two leaves of four classes each, once converted.
        assert!(matches!(
            check(version_1, &limits),
            Err(ArtifactError::OverLimit(exceeded)) if exceeded.what == Limited::LeafValues && exceeded.found == 8
        ));
    }

    #[test]
    fn an_unknown_version_is_named_even_when_its_layout_differs() {
        for document in [
            &br#"{"format_version":9,"ensemble":"elsewhere"}"#[..],
            br#"{"format_version":9}"#,
        ] {
            assert!(matches!(
                check(document, &ModelLimits::default()),
                Err(ArtifactError::UnsupportedFormatVersion { found: 9 })
            ));
        }
        assert!(matches!(
            check(b"{\"format_version\": 2", &ModelLimits::default()),
            Err(ArtifactError::Json(_))
        ));
    }
}
