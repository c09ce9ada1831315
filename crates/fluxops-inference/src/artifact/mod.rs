//! The versioned model artifact (`model.json`): the one serialised format shared by the trainer,
//! the registry and the handler.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::ArtifactError;
use crate::forest::ForestSpec;
use crate::metrics::Evaluation;

/// The artifact format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the only algorithm the format describes.
pub const RANDOM_FOREST: &str = "random_forest_classifier";

/// A model artifact as written to `model.json`.
///
/// Loading one goes through [`crate::Model::from_json`], which checks the format version, the
/// forest digest and the forest's structure before anything can predict with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelArtifact {
    /// Format of this document; see [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What the model is and how it was made.
    pub metadata: ModelMetadata,
    /// Hex SHA-256 of the forest's canonical JSON (see [`forest_sha256`]).
    pub forest_sha256: String,
    /// The trees.
    pub forest: ForestSpec,
}

/// Metadata describing a model: identity, provenance, schema and quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadata {
    /// Model name in the registry, e.g. `fluxops`.
    pub name: String,
    /// Version in the registry, e.g. `20261127T220000Z-1a2b3c4d`.
    pub version: String,
    /// When training finished (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Version of the trainer that made the model.
    pub trainer_version: String,
    /// The algorithm and its parameters.
    pub algorithm: Algorithm,
    /// Feature names, in the order rows must give them.
    pub feature_names: Vec<String>,
    /// Class labels, in class-index order (ascending).
    pub class_labels: Vec<i64>,
    /// Where the training data came from.
    pub training_data: TrainingData,
    /// Evaluation on the held-out test split.
    pub metrics: Evaluation,
}

/// The algorithm that made the forest, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Algorithm {
    /// Always [`RANDOM_FOREST`] in format version 1.
    pub name: String,
    /// Library and version that fitted the trees, e.g. `smartcore 0.7.0`.
    pub library: String,
    /// Number of trees.
    pub n_trees: usize,
    /// Maximum tree depth, if limited.
    pub max_depth: Option<u16>,
    /// Minimum rows a node needs to be split.
    pub min_samples_split: usize,
    /// Minimum rows in a leaf.
    pub min_samples_leaf: usize,
    /// Features tried at each split.
    pub max_features: usize,
    /// Random seed.
    pub seed: u64,
    /// Number of forests fitted in parallel and merged.
    pub n_shards: usize,
}

/// Provenance of the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingData {
    /// File path or URL the data came from, or `synthetic:<rows>:<seed>`.
    pub source: String,
    /// Hex SHA-256 of the data as read (the file bytes, or the synthetic set as CSV).
    pub sha256: String,
    /// Rows in the data set.
    pub n_rows: usize,
    /// Rows used to fit.
    pub n_train_rows: usize,
    /// Rows held out for evaluation.
    pub n_test_rows: usize,
    /// Share of rows held out.
    pub test_size: f64,
}

impl ModelArtifact {
    /// Builds an artifact, recording the forest's digest.
    pub fn new(metadata: ModelMetadata, forest: ForestSpec) -> Self {
        ModelArtifact {
            format_version: FORMAT_VERSION,
            metadata,
            forest_sha256: forest_sha256(&forest),
            forest,
        }
    }

    /// Builds an artifact around a hand-made forest with placeholder metadata (name `example`,
    /// version `0`, empty metrics), for examples, tests and benchmarks.
    pub fn with_placeholder_metadata(
        forest: ForestSpec,
        feature_names: &[&str],
        class_labels: &[i64],
    ) -> Self {
        let metadata = ModelMetadata {
            name: "example".to_owned(),
            version: "0".to_owned(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            trainer_version: "none".to_owned(),
            algorithm: Algorithm {
                name: RANDOM_FOREST.to_owned(),
                library: "hand-made".to_owned(),
                n_trees: forest.trees.len(),
                max_depth: None,
                min_samples_split: 2,
                min_samples_leaf: 1,
                max_features: forest.n_features,
                seed: 0,
                n_shards: 1,
            },
            feature_names: feature_names
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
            class_labels: class_labels.to_vec(),
            training_data: TrainingData {
                source: "none".to_owned(),
                sha256: String::new(),
                n_rows: 0,
                n_train_rows: 0,
                n_test_rows: 0,
                test_size: 0.0,
            },
            metrics: Evaluation::from_class_indices(class_labels, &[], &[]),
        };
        Self::new(metadata, forest)
    }

    /// Serialises the artifact as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses an artifact and checks its format version and forest digest.
    ///
    /// The forest's structure is checked when it is compiled ([`crate::Model::from_artifact`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ArtifactError> {
        let artifact = Self::parse(bytes)?;
        artifact.check_digest()?;
        Ok(artifact)
    }

    /// Parses an artifact of the supported format version, without checking its digest.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, ArtifactError> {
        #[derive(Deserialize)]
        struct Header {
            format_version: u32,
        }
        let unsupported = |found| ArtifactError::UnsupportedFormatVersion {
            found,
            supported: FORMAT_VERSION,
        };
        match serde_json::from_slice::<ModelArtifact>(bytes) {
            Ok(artifact) if artifact.format_version == FORMAT_VERSION => Ok(artifact),
            Ok(artifact) => Err(unsupported(artifact.format_version)),
            // Another version may have another layout: say so rather than what does not parse.
            Err(error) => match serde_json::from_slice::<Header>(bytes) {
                Ok(header) if header.format_version != FORMAT_VERSION => {
                    Err(unsupported(header.format_version))
                }
                _ => Err(error.into()),
            },
        }
    }

    /// Checks that the forest hashes to the recorded digest.
    pub(crate) fn check_digest(&self) -> Result<(), ArtifactError> {
        let computed = forest_sha256(&self.forest);
        if computed == self.forest_sha256 {
            Ok(())
        } else {
            Err(ArtifactError::DigestMismatch {
                recorded: self.forest_sha256.clone(),
                computed,
            })
        }
    }
}

/// Hex SHA-256 of a forest's canonical JSON (compact, fields in declaration order, floats written
/// in their shortest round-trip form).
pub fn forest_sha256(forest: &ForestSpec) -> String {
    sha256_hex(&serde_json::to_vec(forest).unwrap_or_default())
}

/// Hex SHA-256 of some bytes: the digest the artifact, the registry pointer and training-data
/// provenance all use.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
