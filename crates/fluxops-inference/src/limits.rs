//! How large a model this process accepts: caps that keep a hostile or mistaken artifact from
//! taking the memory or the time of the process that loads it.

use crate::error::{LimitExceeded, Limited};

/// Default for [`ModelLimits::max_model_bytes`]: 128 MiB.
///
/// Loading an artifact of this size peaked at 335 to 437 MB of resident memory (realistic and
/// hostile documents, measured; about 600 MB for the costliest mix the other caps allow; see
/// `docs/artifact-format.md`), which leaves a 2 GB Functions instance room for the model already
/// serving, the process and its requests. The handler reads its cap from
/// `FLUXOPS_MAX_MODEL_BYTES`; at 256 MiB, the most the design allows, the costliest load would
/// approach 1.2 GB.
pub const DEFAULT_MAX_MODEL_BYTES: usize = 128 * 1024 * 1024;

/// Default for [`ModelLimits::max_trees`].
pub const DEFAULT_MAX_TREES: usize = 100_000;

/// Default for [`ModelLimits::max_nodes`]: 2^22, about 80 MiB compiled (20 bytes a node).
pub const DEFAULT_MAX_NODES: usize = 4_194_304;

/// Default for [`ModelLimits::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 1_000;

/// Default for [`ModelLimits::max_outputs`].
pub const DEFAULT_MAX_OUTPUTS: usize = 1_000;

/// Default for [`ModelLimits::max_features`].
pub const DEFAULT_MAX_FEATURES: usize = 100_000;

/// Default for [`ModelLimits::max_leaf_values`]: 2^24, 128 MiB of `f64`.
pub const DEFAULT_MAX_LEAF_VALUES: usize = 16_777_216;

/// Default for [`ModelLimits::max_metadata_values`].
pub const DEFAULT_MAX_METADATA_VALUES: usize = 2_000_000;

/// Caps on what an artifact may hold, enforced while it is parsed and compiled.
///
/// The byte size is checked first; then a counting pass over the JSON, which allocates nothing
/// proportional to the document, checks the number of trees, nodes, leaf values, outputs,
/// features and metadata values before the artifact is parsed for real; the depth of each tree is
/// checked while it is compiled. So a document over a cap is refused before it can take more
/// memory than the caps allow. [`ModelLimits::default`] is safe for a 2 GB instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelLimits {
    /// Largest artifact, in bytes.
    pub max_model_bytes: usize,
    /// Most trees.
    pub max_trees: usize,
    /// Most nodes, over all trees.
    pub max_nodes: usize,
    /// Most levels from a root to its deepest leaf (a stump has depth 1); a walk takes this many
    /// steps per tree.
    pub max_depth: usize,
    /// Most outputs (ensemble outputs, or classes).
    pub max_outputs: usize,
    /// Most features.
    pub max_features: usize,
    /// Most leaf values, over all leaves (leaves times outputs).
    pub max_leaf_values: usize,
    /// Most JSON values (numbers, strings, array and map entries) in the metadata: parameters,
    /// evaluation and provenance.
    pub max_metadata_values: usize,
}

impl Default for ModelLimits {
    fn default() -> Self {
        ModelLimits {
            max_model_bytes: DEFAULT_MAX_MODEL_BYTES,
            max_trees: DEFAULT_MAX_TREES,
            max_nodes: DEFAULT_MAX_NODES,
            max_depth: DEFAULT_MAX_DEPTH,
            max_outputs: DEFAULT_MAX_OUTPUTS,
            max_features: DEFAULT_MAX_FEATURES,
            max_leaf_values: DEFAULT_MAX_LEAF_VALUES,
            max_metadata_values: DEFAULT_MAX_METADATA_VALUES,
        }
    }
}

impl ModelLimits {
    /// No caps: for a producer checking an artifact it has just made from data it trusts (the
    /// trainer warns about a model over the defaults instead of refusing to write it). Never use
    /// it for an artifact read from a registry.
    pub fn unlimited() -> Self {
        ModelLimits {
            max_model_bytes: usize::MAX,
            max_trees: usize::MAX,
            max_nodes: usize::MAX,
            max_depth: usize::MAX,
            max_outputs: usize::MAX,
            max_features: usize::MAX,
            max_leaf_values: usize::MAX,
            max_metadata_values: usize::MAX,
        }
    }

    /// Checks one count against its cap.
    pub(crate) fn check(&self, what: Limited, found: usize) -> Result<(), LimitExceeded> {
        let max = match what {
            Limited::ModelBytes => self.max_model_bytes,
            Limited::Trees => self.max_trees,
            Limited::Nodes => self.max_nodes,
            Limited::Depth => self.max_depth,
            Limited::Outputs => self.max_outputs,
            Limited::Features => self.max_features,
            Limited::LeafValues => self.max_leaf_values,
            Limited::MetadataValues => self.max_metadata_values,
        };
        if found > max {
            Err(LimitExceeded { what, found, max })
        } else {
            Ok(())
        }
    }
}
