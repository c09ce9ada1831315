//! A loaded, verified model ready to predict.

use crate::artifact::{ModelArtifact, ModelMetadata, Schema};
use crate::error::ArtifactError;
use crate::limits::ModelLimits;
use crate::predictor::Predictor;

/// A verified model: metadata plus the compiled, schema-checked ensemble.
///
/// Made only by [`Model::from_json`] or [`Model::from_artifact`], so every `Model` has passed the
/// format, limits, digest, structure and schema checks. [`Model::predictor`] predicts.
#[derive(Debug, Clone)]
pub struct Model {
    metadata: ModelMetadata,
    ensemble_sha256: String,
    predictor: Predictor,
}

impl Model {
    /// Parses, verifies and compiles an artifact of any supported format version from
    /// `model.json` bytes, refusing one beyond `limits` before it can take the memory.
    pub fn from_json(bytes: &[u8], limits: &ModelLimits) -> Result<Self, ArtifactError> {
        Self::from_artifact(ModelArtifact::from_json(bytes, limits)?, limits)
    }

    /// Verifies and compiles a parsed artifact within `limits`.
    ///
    /// Checks the digest again (the artifact's fields are public), the ensemble's structure, and
    /// that the schema fits the ensemble.
    pub fn from_artifact(
        artifact: ModelArtifact,
        limits: &ModelLimits,
    ) -> Result<Self, ArtifactError> {
        artifact.check_digest()?;
        let predictor = Predictor::new(artifact.schema, &artifact.ensemble, limits)?;
        Ok(Model {
            metadata: artifact.metadata,
            ensemble_sha256: artifact.ensemble_sha256,
            predictor,
        })
    }

    /// What the model is and where it came from.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Feature names and task.
    pub fn schema(&self) -> &Schema {
        self.predictor.schema()
    }

    /// Hex SHA-256 of the ensemble content (see [`crate::ensemble_sha256`]).
    pub fn ensemble_sha256(&self) -> &str {
        &self.ensemble_sha256
    }

    /// The compiled model, to predict with.
    pub fn predictor(&self) -> &Predictor {
        &self.predictor
    }
}
