//! From bytes to an [`Ensemble`]: decode, find the tree operator, read its attributes.

use crate::ensemble::{Ensemble, Node, Operator, Source};
use crate::{Error, graph, proto, v3, v5};

impl Ensemble {
    /// Reads the tree ensemble in an ONNX file.
    ///
    /// `max_bytes` caps the file's size; nothing is decoded above it, and decoding never takes
    /// more than a small multiple of the file's size in memory. The file must hold exactly one
    /// `ai.onnx.ml` tree-ensemble operator and nothing around it but the plumbing exporters add
    /// (`Cast`, `Identity`, `ZipMap`, a multiplication by one); anything the importer cannot
    /// reproduce exactly is an [`Error::Unsupported`] that names it and says what to do.
    pub fn from_onnx(bytes: &[u8], max_bytes: usize) -> Result<Self, Error> {
        let model = proto::decode_model(bytes, max_bytes)?;
        let mut site = graph::locate(&model)?;
        let source = Source {
            producer_name: model.producer_name.clone().unwrap_or_default(),
            producer_version: model.producer_version.clone().unwrap_or_default(),
            ir_version: model.ir_version.unwrap_or_default(),
            opsets: std::mem::take(&mut site.opsets),
            operator: site.operator,
            ml_opset: site.ml_opset,
        };
        let mut ensemble = match site.operator {
            Operator::TreeEnsemble => v5::read(site, source)?,
            Operator::TreeEnsembleClassifier | Operator::TreeEnsembleRegressor => {
                v3::read(site, source)?
            }
        };
        if !ensemble.input.n_features_declared {
            ensemble.input.n_features = ensemble
                .trees
                .iter()
                .flat_map(|tree| &tree.nodes)
                .filter_map(|node| match node {
                    Node::Split(split) => Some(split.feature + 1),
                    Node::Leaf(_) => None,
                })
                .max()
                .unwrap_or(0);
        }
        Ok(ensemble)
    }
}
