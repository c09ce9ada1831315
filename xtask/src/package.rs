//! `cargo xtask package [--target <triple>]`: builds the release `handler` and lays out the zip
//! the Azure Functions host runs.
//!
//! The zip holds `host.json`, the executable `handler` (mode 0755) and one folder per function
//! with its `function.json`. The bindings come from the repository's root `function.json`; the
//! table [`FUNCTIONS`] adds each function's route, methods and authorization level. Every
//! document is checked against the schemas in `ci/schemas/` before anything is written.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use jsonschema::{Draft, Validator};
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::run_command;

/// Where the zip is written, relative to the repository root.
pub const ZIP_PATH: &str = "dist/fluxops-functions.zip";
/// The executable's name, as `host.json` names it.
const EXECUTABLE: &str = "handler";

/// One HTTP function of the app: a folder in the zip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Function {
    /// Function (and folder) name.
    pub name: &'static str,
    /// Route below the `api` prefix; the host forwards the request to the handler unchanged.
    pub route: &'static str,
    /// Allowed methods, lower case.
    pub methods: &'static [&'static str],
    /// `anonymous`, or `function` to require a function key.
    pub auth_level: &'static str,
}

/// The app's functions: predictions need a function key, as in the original project; health,
/// model information and the OpenAPI document are anonymous.
pub const FUNCTIONS: [Function; 4] = [
    Function {
        name: "health",
        route: "health",
        methods: &["get"],
        auth_level: "anonymous",
    },
    Function {
        name: "predict",
        route: "predict",
        methods: &["post"],
        auth_level: "function",
    },
    Function {
        name: "model-info",
        route: "model-info",
        methods: &["get"],
        auth_level: "anonymous",
    },
    Function {
        name: "openapi",
        route: "openapi.json",
        methods: &["get"],
        auth_level: "anonymous",
    },
];

/// Builds the release handler for `target` (the host's own target if `None`) and writes the zip.
pub fn run(root: &Path, target: Option<&str>) -> anyhow::Result<()> {
    // Check the documents first: a schema violation should not wait for a release build.
    let files = layout(root)?;
    let mut args = vec![
        "build",
        "--release",
        "-p",
        "fluxops-handler",
        "--bin",
        EXECUTABLE,
    ];
    if let Some(target) = target {
        args.extend(["--target", target]);
    }
    run_command(root, "cargo", &args)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = match target {
        Some(target) => target_dir.join(target).join("release").join(EXECUTABLE),
        None => target_dir.join("release").join(EXECUTABLE),
    };
    let executable =
        fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let zip_path = root.join(ZIP_PATH);
    write_zip(&zip_path, &files, &executable)?;
    let size = fs::metadata(&zip_path)?.len();
    eprintln!(
        "xtask: wrote {} ({size} bytes, {:.1} MiB; handler {:.1} MiB unpacked)",
        zip_path.display(),
        size as f64 / 1024.0 / 1024.0,
        executable.len() as f64 / 1024.0 / 1024.0,
    );
    Ok(())
}

/// The zip's documents (path in the zip, bytes), checked against the schemas in `ci/schemas/`:
/// `host.json` as it is, then `<function>/function.json` for each of [`FUNCTIONS`].
pub fn layout(root: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let host_schema = compile(&root.join("ci/schemas/host.json"), None)?;
    // The function.json schema declares draft-04 but uses `const`, a draft-06 keyword that
    // draft-04 ignores; read that way its `sqlBinding` matches every binding and every HTTP
    // binding fails `oneOf`. Draft-07 reads it as its authors meant.
    let function_schema = compile(&root.join("ci/schemas/function.json"), Some(Draft::Draft7))?;
    let host_path = root.join("host.json");
    let host = read_json(&host_path)?;
    validate(&host_schema, &host, "host.json")?;
    check_custom_handler(&host)?;
    let template = read_json(&root.join("function.json"))?;
    validate(&function_schema, &template, "function.json")?;
    let mut files = vec![(
        "host.json".to_owned(),
        fs::read(&host_path).context("cannot read host.json")?,
    )];
    for function in FUNCTIONS {
        let document = function_json(&template, &function)?;
        let path = format!("{}/function.json", function.name);
        validate(&function_schema, &document, &path)?;
        files.push((path, serde_json::to_vec_pretty(&document)?));
    }
    Ok(files)
}

/// Compiles the schema at `path`, under `draft` if given (its declared draft otherwise).
fn compile(path: &Path, draft: Option<Draft>) -> anyhow::Result<Validator> {
    let schema = read_json(path)?;
    let mut options = jsonschema::options();
    if let Some(draft) = draft {
        options = options.with_draft(draft);
    }
    options
        .build(&schema)
        .map_err(|error| anyhow::anyhow!("the schema {} does not compile: {error}", path.display()))
}

/// The root `function.json` with `function`'s route, methods and authorization level set on its
/// HTTP trigger.
fn function_json(template: &Value, function: &Function) -> anyhow::Result<Value> {
    let mut document = template.clone();
    let bindings = document
        .get_mut("bindings")
        .and_then(Value::as_array_mut)
        .context("function.json has no `bindings` array")?;
    let count = |kind: &str| {
        bindings
            .iter()
            .filter(|binding| binding["type"] == kind)
            .count()
    };
    // Forwarding HTTP requests needs exactly one HTTP trigger in and one HTTP output.
    ensure!(
        bindings.len() == 2 && count("httpTrigger") == 1 && count("http") == 1,
        "function.json must have exactly one `httpTrigger` and one `http` binding (request forwarding needs them)"
    );
    for binding in bindings.iter_mut() {
        if binding["type"] == "httpTrigger"
            && let Some(trigger) = binding.as_object_mut()
        {
            trigger.insert("route".to_owned(), json!(function.route));
            trigger.insert("methods".to_owned(), json!(function.methods));
            trigger.insert("authLevel".to_owned(), json!(function.auth_level));
        }
    }
    Ok(document)
}

/// The host must start `handler` and forward HTTP requests to it as they are.
fn check_custom_handler(host: &Value) -> anyhow::Result<()> {
    let handler = &host["customHandler"];
    ensure!(
        handler["description"]["defaultExecutablePath"] == EXECUTABLE,
        "host.json: customHandler.description.defaultExecutablePath must be {EXECUTABLE:?}"
    );
    ensure!(
        handler["enableForwardingHttpRequest"] == true,
        "host.json: customHandler.enableForwardingHttpRequest must be true"
    );
    ensure!(
        host["extensions"]["http"]["routePrefix"] == "api",
        "host.json: extensions.http.routePrefix must be \"api\" (the handler's routes start with /api)"
    );
    Ok(())
}

/// Checks `document` against `schema`, listing every violation with where it is.
fn validate(schema: &Validator, document: &Value, name: &str) -> anyhow::Result<()> {
    let violations: Vec<String> = schema
        .iter_errors(document)
        .map(|error| {
            let path = error.instance_path().to_string();
            let at = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            format!("  {at}: {error}")
        })
        .collect();
    if !violations.is_empty() {
        bail!(
            "{name} does not match its schema:\n{}",
            violations.join("\n")
        );
    }
    Ok(())
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Writes the zip: the documents (mode 0644), their folders (0755) and the executable (0755).
/// Timestamps are fixed, so the same inputs give the same bytes.
pub fn write_zip(
    path: &Path,
    files: &[(String, Vec<u8>)],
    executable: &[u8],
) -> anyhow::Result<()> {
    if let Some(folder) = path.parent() {
        fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let file =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut zip = ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    let mut folders: Vec<&str> = files
        .iter()
        .filter_map(|(name, _)| name.split_once('/').map(|(folder, _)| folder))
        .collect();
    folders.dedup();
    for folder in folders {
        zip.add_directory(format!("{folder}/"), options.unix_permissions(0o755))?;
    }
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options.unix_permissions(0o644))?;
        zip.write_all(bytes)?;
    }
    zip.start_file(EXECUTABLE, options.unix_permissions(0o755))?;
    zip.write_all(executable)?;
    zip.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use zip::ZipArchive;

    use super::*;

    fn root() -> PathBuf {
        crate::project_root()
    }

    #[test]
    fn the_repository_documents_pass_their_schemas() {
        let files = layout(&root()).expect("host.json and function.json are valid");
        let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "host.json",
                "health/function.json",
                "predict/function.json",
                "model-info/function.json",
                "openapi/function.json"
            ]
        );
        let trigger = |name: &str| -> Value {
            let (_, bytes) = files
                .iter()
                .find(|(path, _)| path == &format!("{name}/function.json"))
                .expect("function present");
            let document: Value = serde_json::from_slice(bytes).expect("JSON");
            document["bindings"][0].clone()
        };
        assert_eq!(trigger("predict")["authLevel"], "function");
        assert_eq!(trigger("predict")["methods"], json!(["post"]));
        assert_eq!(trigger("health")["authLevel"], "anonymous");
        assert_eq!(trigger("model-info")["authLevel"], "anonymous");
        assert_eq!(trigger("model-info")["route"], "model-info");
        assert_eq!(trigger("openapi")["route"], "openapi.json");
        assert_eq!(trigger("openapi")["authLevel"], "anonymous");
    }

    #[test]
    fn schema_violations_are_listed_with_their_place() {
        let schema = compile(&root().join("ci/schemas/host.json"), None).expect("schema");
        let host =
            json!({"version": "3.0", "customHandler": {"enableForwardingHttpRequest": "yes"}});
        let error = validate(&schema, &host, "host.json").expect_err("invalid");
        assert!(
            error
                .to_string()
                .contains("host.json does not match its schema"),
            "{error}"
        );

        let schema = compile(
            &root().join("ci/schemas/function.json"),
            Some(Draft::Draft7),
        )
        .expect("schema");
        let mut document = function_json(
            &read_json(&root().join("function.json")).expect("template"),
            &FUNCTIONS[1],
        )
        .expect("laid out");
        document["bindings"][0]["authLevel"] = json!("everyone");
        let error = validate(&schema, &document, "predict/function.json").expect_err("invalid");
        assert!(
            error.to_string().contains("predict/function.json"),
            "{error}"
        );
    }

    #[test]
    fn a_template_without_one_trigger_and_one_output_is_refused() {
        let template =
            json!({"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]});
        assert!(function_json(&template, &FUNCTIONS[0]).is_err());
    }

    #[test]
    fn the_host_must_forward_to_the_handler() {
        let mut host = read_json(&root().join("host.json")).expect("host.json");
        check_custom_handler(&host).expect("the repository's host.json forwards");
        host["customHandler"]["enableForwardingHttpRequest"] = json!(false);
        assert!(check_custom_handler(&host).is_err());
    }

    #[test]
    fn the_zip_holds_the_layout_with_an_executable_handler() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("dist/app.zip");
        let files = layout(&root()).expect("layout");
        write_zip(&path, &files, b"#!/bin/sh\necho dummy handler\n").expect("zip written");

        let mut archive = ZipArchive::new(fs::File::open(&path).expect("zip")).expect("readable");
        let mut names: Vec<String> = archive
            .file_names()
            .map(|name| name.expect("a readable name").into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "handler",
                "health/",
                "health/function.json",
                "host.json",
                "model-info/",
                "model-info/function.json",
                "openapi/",
                "openapi/function.json",
                "predict/",
                "predict/function.json",
            ]
        );
        let handler = archive.by_name("handler").expect("handler");
        assert_eq!(handler.unix_mode().map(|mode| mode & 0o777), Some(0o755));
        drop(handler);
        let host = archive.by_name("host.json").expect("host.json");
        assert_eq!(host.unix_mode().map(|mode| mode & 0o777), Some(0o644));
        drop(host);
        let mut predict = String::new();
        archive
            .by_name("predict/function.json")
            .expect("predict")
            .read_to_string(&mut predict)
            .expect("text");
        assert!(predict.contains("\"authLevel\": \"function\""), "{predict}");

        // The same inputs give the same bytes.
        let again = folder.path().join("again.zip");
        write_zip(&again, &files, b"#!/bin/sh\necho dummy handler\n").expect("zip written");
        assert_eq!(
            fs::read(&path).expect("zip"),
            fs::read(&again).expect("zip")
        );
    }
}
