//! `GET /api/openapi.json`: the document generated from the routes, with the body of
//! `/api/predict` said exactly for the model being served.
//!
//! What a prediction request may hold depends on the model: a row has as many numbers as the
//! model has features, and an answer names its classes. So the request and the 200 answer of
//! `/api/predict` are written here, per model, into the document `utoipa` generates for
//! everything else: one row (`features`) or a batch (`instances`, at most `FLUXOPS_MAX_BATCH`
//! rows) as a `oneOf`, rows of exactly the model's width, labels from its classes. Before a model
//! is loaded the row width is said in prose. Each model's document is rendered once, on its first
//! request.

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fluxops_inference::{ClassLabels, Task};
use serde_json::{Value, json};

use crate::state::{AppState, LoadedModel};

/// The generated document and what the predict operation's schemas need.
#[derive(Debug)]
pub(crate) struct ApiDocs {
    /// The document `utoipa` generated, without the predict operation's request and 200 body.
    base: Value,
    /// Most rows a batch may have.
    max_batch: usize,
    /// The document for when no model is loaded.
    without_model: Bytes,
}

impl ApiDocs {
    pub(crate) fn new(generated: &utoipa::openapi::OpenApi, max_batch: usize) -> Self {
        let base = serde_json::to_value(generated)
            .expect("a document of strings and string-keyed maps always serialises");
        let mut docs = ApiDocs {
            base,
            max_batch,
            without_model: Bytes::new(),
        };
        docs.without_model = docs.render(None);
        docs
    }

    /// The document for `model`, or for no model.
    fn render(&self, model: Option<&LoadedModel>) -> Bytes {
        let mut document = self.base.clone();
        let operation = &mut document["paths"]["/api/predict"]["post"];
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": request_schema(model, self.max_batch)}},
        });
        operation["responses"]["200"]["content"] =
            json!({"application/json": {"schema": response_schema(model)}});
        Bytes::from(
            serde_json::to_vec(&document)
                .expect("a document of strings and string-keyed maps always serialises"),
        )
    }

    /// The document for the model being served now.
    fn current(&self, state: &AppState) -> Bytes {
        match state.model() {
            Some(model) => model
                .openapi
                .get_or_init(|| self.render(Some(&model)))
                .clone(),
            None => self.without_model.clone(),
        }
    }

    /// The answer to `GET /api/openapi.json`.
    pub(crate) fn answer(&self, state: &AppState) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.current(state),
        )
            .into_response()
    }
}

/// One row: exactly the model's features, or, without a model, as many as it will have.
fn row_schema(model: Option<&LoadedModel>) -> Value {
    let number = json!({"type": "number"});
    match model {
        Some(model) => {
            let n_features = model.model.predictor().n_features();
            let names = model.model.schema().feature_names.join(", ");
            json!({
                "type": "array",
                "items": number,
                "minItems": n_features,
                "maxItems": n_features,
                "description": format!("One value per feature, in this order: {names}."),
            })
        }
        None => json!({
            "type": "array",
            "items": number,
            "description": "One value per feature of the model being served, in its order \
                            (see /api/model-info for the count and the names).",
        }),
    }
}

/// A request: one row or a batch; the other field may be present only as `null`, and any other
/// field is ignored.
fn request_schema(model: Option<&LoadedModel>, max_batch: usize) -> Value {
    let row = row_schema(model);
    let example = model.map_or_else(
        || json!([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
        |model| json!(vec![0.5; model.model.predictor().n_features()]),
    );
    json!({
        "description": "Exactly one of `features` (one row) and `instances` (a batch); \
                        both is `features_and_instances`, neither `missing_features`.",
        "oneOf": [
            {
                "title": "One row",
                "type": "object",
                "required": ["features"],
                "properties": {"features": row, "instances": {"type": "null"}},
            },
            {
                "title": "A batch",
                "type": "object",
                "required": ["instances"],
                "properties": {
                    "instances": {
                        "type": "array",
                        "items": row,
                        "minItems": 1,
                        "maxItems": max_batch,
                        "description": format!(
                            "Rows, each as for `features`; at most {max_batch} (FLUXOPS_MAX_BATCH)."
                        ),
                    },
                    "features": {"type": "null"},
                },
            },
        ],
        "example": {"features": example},
    })
}

/// The answer for one row, or for each row of a batch.
fn response_schema(model: Option<&LoadedModel>) -> Value {
    let (row_properties, row_required) = answer_schema(model);
    let mut single_properties = row_properties.clone();
    single_properties["model_version"] = json!({
        "type": "string",
        "description": "Registry version of the model that answered.",
    });
    let mut single_required = row_required.clone();
    single_required.push("model_version");
    json!({
        "oneOf": [
            {
                "title": "One row",
                "type": "object",
                "required": single_required,
                "properties": single_properties,
            },
            {
                "title": "A batch",
                "type": "object",
                "required": ["predictions", "model_version"],
                "properties": {
                    "predictions": {
                        "type": "array",
                        "description": "One answer per row, in request order.",
                        "items": {
                            "type": "object",
                            "required": row_required,
                            "properties": row_properties,
                        },
                    },
                    "model_version": {"type": "string"},
                },
            },
        ],
    })
}

/// The properties of one row's answer and which are required: a classifier's label,
/// probabilities and confidence, or a regressor's value.
fn answer_schema(model: Option<&LoadedModel>) -> (Value, Vec<&'static str>) {
    let probability = |description: &str| json!({"type": "number", "description": description});
    let Some(model) = model else {
        let properties = json!({
            "prediction": {
                "description": "A classifier's label (a number or a string), or a regressor's \
                                value (an array of numbers for several outputs).",
                "anyOf": [
                    {"type": "number"},
                    {"type": "string"},
                    {"type": "array", "items": {"type": "number"}},
                ],
            },
            "probability": {
                "type": "object",
                "description": "A classifier's probability of each class, keyed class_<label>.",
                "additionalProperties": {"type": "number"},
            },
            "confidence": probability("A classifier's probability of its prediction."),
        });
        return (properties, vec!["prediction"]);
    };
    let labels = match &model.model.schema().task {
        Task::Classifier {
            labels: ClassLabels::Integers(labels),
        } => json!({"type": "integer", "enum": labels}),
        Task::Classifier {
            labels: ClassLabels::Strings(labels),
        } => json!({"type": "string", "enum": labels}),
        Task::Regressor {} => {
            let value = match model.n_outputs {
                1 => json!({"type": "number"}),
                n_outputs => json!({
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": n_outputs,
                    "maxItems": n_outputs,
                }),
            };
            return (json!({"prediction": value}), vec!["prediction"]);
        }
    };
    let classes: serde_json::Map<String, Value> = model
        .class_keys
        .iter()
        .map(|key| (key.clone(), probability("Probability of this class.")))
        .collect();
    let properties = json!({
        "prediction": labels,
        "probability": {
            "type": "object",
            "required": model.class_keys,
            "properties": classes,
            "additionalProperties": false,
        },
        "confidence": probability("Probability of the predicted class."),
    });
    (properties, vec!["prediction", "probability", "confidence"])
}
