//! The Function App's HTTP functions: one folder per function in the zip, each naming its full
//! route (`host.json` sets the route prefix to `""`, so `/api/...` and `/v2/...` can both be
//! served), its methods and its authorization level.
//!
//! This file is the one list of them: `cargo xtask package` lays it out, and the handler's
//! tests (`crates/fluxops-handler/tests/api/v2_functions.rs`, which include this file) check
//! that it is exactly the routes of the OpenAPI documents the handler serves. It therefore uses
//! nothing but `core`.

/// One HTTP function of the app: a folder in the zip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Function {
    /// Function (and folder) name.
    pub name: &'static str,
    /// The full route, without a leading `/`; the host forwards the request to the handler
    /// unchanged.
    pub route: &'static str,
    /// Allowed methods, lower case.
    pub methods: &'static [&'static str],
    /// `anonymous`, or `function` to require a function key.
    pub auth_level: &'static str,
}

/// Needs no key: health, metadata and the OpenAPI documents.
const ANONYMOUS: &str = "anonymous";
/// Needs a function key: predictions, as in the original project, and V2 inference.
const FUNCTION_KEY: &str = "function";

/// The app's functions.
pub const FUNCTIONS: [Function; 14] = [
    Function {
        name: "health",
        route: "api/health",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "predict",
        route: "api/predict",
        methods: &["post"],
        auth_level: FUNCTION_KEY,
    },
    Function {
        name: "model-info",
        route: "api/model-info",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "openapi",
        route: "api/openapi.json",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-server-metadata",
        route: "v2",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-health-live",
        route: "v2/health/live",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-health-ready",
        route: "v2/health/ready",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-model-metadata",
        route: "v2/models/{model_name}",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-model-version-metadata",
        route: "v2/models/{model_name}/versions/{model_version}",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-model-ready",
        route: "v2/models/{model_name}/ready",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-model-version-ready",
        route: "v2/models/{model_name}/versions/{model_version}/ready",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
    Function {
        name: "v2-infer",
        route: "v2/models/{model_name}/infer",
        methods: &["post"],
        auth_level: FUNCTION_KEY,
    },
    Function {
        name: "v2-model-version-infer",
        route: "v2/models/{model_name}/versions/{model_version}/infer",
        methods: &["post"],
        auth_level: FUNCTION_KEY,
    },
    Function {
        name: "v2-openapi",
        route: "v2/openapi.json",
        methods: &["get"],
        auth_level: ANONYMOUS,
    },
];
