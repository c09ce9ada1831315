//! The functions `cargo xtask package` lays out in the Functions zip are exactly the routes of
//! the OpenAPI documents the handler serves, each behind the right authorization level: a route
//! without a function is unreachable in Azure, and a function without a route answers 404.

use serde_json::Value;

use crate::helpers::{json_body, spawn_app};

/// The one list of the app's functions, which `xtask/src/package.rs` lays out.
#[path = "../../../../xtask/src/package/functions.rs"]
mod functions;

use functions::FUNCTIONS;

/// The host's own readiness probe of the handler: documented, but not a function.
const HOST_PROBE: (&str, &str) = ("get", "/");

#[tokio::test]
async fn the_packaged_functions_are_exactly_the_documented_routes() {
    let app = spawn_app().await;
    let mut documented: Vec<(String, String)> = Vec::new();
    for document in ["/api/openapi.json", "/v2/openapi.json"] {
        let openapi: Value = json_body(app.get(document).await).await;
        for (path, item) in openapi["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        // Each document is served too, outside what it describes.
        documented.push(("get".to_owned(), document.to_owned()));
    }
    let probe = (HOST_PROBE.0.to_owned(), HOST_PROBE.1.to_owned());
    assert!(
        documented.contains(&probe),
        "the host's probe is documented"
    );
    documented.retain(|route| route != &probe);
    documented.sort();

    let mut packaged: Vec<(String, String)> = FUNCTIONS
        .iter()
        .flat_map(|function| {
            function
                .methods
                .iter()
                .map(|method| ((*method).to_owned(), format!("/{}", function.route)))
        })
        .collect();
    packaged.sort();
    assert_eq!(packaged, documented);

    // Predictions and inference need the function key; health, metadata and the documents are
    // anonymous.
    for function in FUNCTIONS {
        let expected = if function.methods == ["post"] {
            "function"
        } else {
            "anonymous"
        };
        assert_eq!(function.auth_level, expected, "function {}", function.name);
    }
    app.stop().await;
}
