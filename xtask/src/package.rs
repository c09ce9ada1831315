//! `cargo xtask package`: builds the release `handler` that ships and lays out the zip the Azure
//! Functions host runs.
//!
//! The handler is built with `cargo zigbuild --release --locked` for [`SHIPPED_TARGET`], linked
//! by zig against the symbols of glibc [`GLIBC_FLOOR`], so the one binary runs on this machine,
//! in CI and on any Functions image with that glibc or a newer one; the build is refused if the
//! executable asks for a newer glibc anyway. The zip holds `host.json`, the executable `handler`
//! (mode 0755) and one folder per function with its `function.json`. The bindings come from the
//! repository's root `function.json`; the table [`FUNCTIONS`] (in `package/functions.rs`) adds
//! each function's full route, methods and authorization level, since `host.json` sets the route
//! prefix to `""`. Every document is checked against the schemas in `ci/schemas/` before
//! anything is built.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use jsonschema::{Draft, Validator};
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::elf::{self, GlibcVersion};
use crate::{run_command, run_command_with_env};

mod functions;

pub use functions::{FUNCTIONS, Function};

/// Where the zip is written, relative to the repository root.
pub const ZIP_PATH: &str = "dist/fluxops-functions.zip";
/// The executable's name, as `host.json` names it.
pub const EXECUTABLE: &str = "handler";
/// The target the shipped handler is built for (Azure Functions runs Linux on x86_64).
pub const SHIPPED_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The newest glibc the shipped handler may need: zig links against this version's symbols
/// (`cargo zigbuild --target <triple>.<major>.<minor>`), and the build fails if it needs more.
pub const GLIBC_FLOOR: GlibcVersion = GlibcVersion {
    major: 2,
    minor: 28,
};

/// Where `cargo xtask package-trainer` copies the trainer, relative to the repository root.
pub const TRAINER_PATH: &str = "dist/fluxops-train";

/// Builds the shipped handler, checks its glibc floor and writes the zip.
pub fn run(root: &Path) -> anyhow::Result<()> {
    // Check the documents first: a schema violation should not wait for a release build.
    let files = layout(root)?;
    let executable = build_shipped(root, "fluxops-handler", EXECUTABLE)?;
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

/// Builds `fluxops-train` the same way as the handler and copies it to [`TRAINER_PATH`]: the
/// trainer the pipeline's deploy job publishes models with.
pub fn trainer(root: &Path) -> anyhow::Result<()> {
    let executable = build_shipped(root, "fluxops-trainer", "fluxops-train")?;
    let path = root.join(TRAINER_PATH);
    if let Some(folder) = path.parent() {
        fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    write_executable(&path, &executable)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// Builds `bin` of `package` for [`SHIPPED_TARGET`] at [`GLIBC_FLOOR`], checks the floor and
/// returns the executable's bytes.
fn build_shipped(root: &Path, package: &str, bin: &str) -> anyhow::Result<Vec<u8>> {
    zigbuild(root, package, bin)?;
    let binary = target_dir(root)
        .join(SHIPPED_TARGET)
        .join("release")
        .join(bin);
    let executable =
        fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let needed = check_glibc_floor(&executable)
        .with_context(|| format!("{} cannot ship", binary.display()))?;
    eprintln!(
        "xtask: {} needs {} at most (floor {GLIBC_FLOOR})",
        binary.display(),
        needed.map_or_else(|| "no glibc".to_owned(), |version| version.to_string())
    );
    Ok(executable)
}

/// `cargo zigbuild --release --locked` for [`SHIPPED_TARGET`] at [`GLIBC_FLOOR`], with the
/// pinned zig and cargo-zigbuild of `.tools/venv` (installed by `ci/setup-tools.sh`).
fn zigbuild(root: &Path, package: &str, bin: &str) -> anyhow::Result<()> {
    run_command(root, "sh", &["ci/setup-tools.sh", "build"])?;
    let tools = root.join(".tools/venv/bin");
    let path = std::env::join_paths(std::iter::once(tools).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .context("the tools folder cannot go on PATH")?;
    let path = path.to_str().context("PATH is not UTF-8")?;
    let args = zigbuild_args(package, bin);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_command_with_env(root, "cargo", &args, &[("PATH", path)])
}

/// The cargo arguments of [`zigbuild`]: a release build exactly as Cargo.lock says, for the
/// shipped target at the glibc floor (`<triple>.<major>.<minor>`, cargo-zigbuild's syntax).
fn zigbuild_args(package: &str, bin: &str) -> Vec<String> {
    let target = format!(
        "{SHIPPED_TARGET}.{}.{}",
        GLIBC_FLOOR.major, GLIBC_FLOOR.minor
    );
    [
        "zigbuild",
        "--release",
        "--locked",
        "-p",
        package,
        "--bin",
        bin,
        "--target",
        &target,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, or `target/` in the workspace.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Refuses an executable that needs a newer glibc than [`GLIBC_FLOOR`]; returns what it needs.
fn check_glibc_floor(executable: &[u8]) -> anyhow::Result<Option<GlibcVersion>> {
    let needed = elf::highest_glibc_version(executable)?;
    if let Some(version) = needed {
        ensure!(
            version <= GLIBC_FLOOR,
            "it needs {version}, newer than the {GLIBC_FLOOR} floor: a Functions image with an older glibc could not start it"
        );
    }
    Ok(needed)
}

/// Writes the executable `handler` from the zip at `zip_path` to `folder/handler` (mode 0755)
/// and returns its path: the bytes that ship, for the tests to run.
pub fn extract_handler(zip_path: &Path, folder: &Path) -> anyhow::Result<PathBuf> {
    let file =
        fs::File::open(zip_path).with_context(|| format!("cannot open {}", zip_path.display()))?;
    let mut archive = ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip file", zip_path.display()))?;
    let mut entry = archive
        .by_name(EXECUTABLE)
        .with_context(|| format!("{} has no {EXECUTABLE}", zip_path.display()))?;
    ensure!(
        entry.unix_mode().is_some_and(|mode| mode & 0o111 == 0o111),
        "{EXECUTABLE} is not executable in {}",
        zip_path.display()
    );
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes)?;
    fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let path = folder.join(EXECUTABLE);
    write_executable(&path, &bytes)?;
    Ok(path)
}

#[cfg(unix)]
fn write_executable(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    // A fresh file each time: a running copy of the old one may still be open.
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_executable(path: &Path, _bytes: &[u8]) -> anyhow::Result<()> {
    bail!(
        "{} can only be written as an executable on Linux",
        path.display()
    )
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
    check_functions(&FUNCTIONS)?;
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

/// Function names the host accepts (a letter, then up to 127 letters, digits, `-` and `_`),
/// each used once; full routes without a leading `/`, each method of a route served once.
fn check_functions(functions: &[Function]) -> anyhow::Result<()> {
    let mut routes: Vec<(&str, &str)> = Vec::new();
    for (index, function) in functions.iter().enumerate() {
        let name = function.name;
        let valid_name = name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        ensure!(
            valid_name,
            "function name {name:?} is not one the Functions host accepts"
        );
        ensure!(
            functions[..index]
                .iter()
                .all(|earlier| earlier.name != name),
            "function name {name:?} is used twice"
        );
        ensure!(
            !function.route.starts_with('/') && !function.route.is_empty(),
            "function {name}: the route {:?} must be a full route without a leading `/`",
            function.route
        );
        for &method in function.methods {
            ensure!(
                !routes.contains(&(method, function.route)),
                "function {name}: {method} {} is served by another function too",
                function.route
            );
            routes.push((method, function.route));
        }
    }
    Ok(())
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
        host["extensions"]["http"]["routePrefix"] == "",
        "host.json: extensions.http.routePrefix must be \"\" (each function names its full route: api/..., v2/...)"
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
        let expected: Vec<String> = std::iter::once("host.json".to_owned())
            .chain(
                FUNCTIONS
                    .iter()
                    .map(|function| format!("{}/function.json", function.name)),
            )
            .collect();
        assert_eq!(names, expected);
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
        assert_eq!(trigger("predict")["route"], "api/predict");
        assert_eq!(trigger("health")["authLevel"], "anonymous");
        assert_eq!(trigger("model-info")["authLevel"], "anonymous");
        assert_eq!(trigger("model-info")["route"], "api/model-info");
        assert_eq!(trigger("openapi")["route"], "api/openapi.json");
        assert_eq!(trigger("openapi")["authLevel"], "anonymous");
        assert_eq!(trigger("v2-infer")["route"], "v2/models/{model_name}/infer");
        assert_eq!(trigger("v2-infer")["authLevel"], "function");
        assert_eq!(trigger("v2-server-metadata")["route"], "v2");
        assert_eq!(trigger("v2-model-metadata")["authLevel"], "anonymous");
    }

    #[test]
    fn function_names_and_routes_are_checked() {
        check_functions(&FUNCTIONS).expect("the app's functions are valid");
        let refused = |functions: &[Function], expected: &str| {
            let error = check_functions(functions).expect_err(expected);
            assert!(error.to_string().contains(expected), "{error}");
        };
        let predict = FUNCTIONS[1];
        refused(&[predict, predict], "used twice");
        refused(
            &[Function {
                name: "v2/infer",
                ..predict
            }],
            "not one the Functions host accepts",
        );
        refused(
            &[Function {
                route: "/api/predict",
                ..predict
            }],
            "without a leading `/`",
        );
        refused(
            &[
                predict,
                Function {
                    name: "predict-again",
                    ..predict
                },
            ],
            "post api/predict is served by another function too",
        );
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
    fn the_host_must_forward_to_the_handler_without_a_route_prefix() {
        let mut host = read_json(&root().join("host.json")).expect("host.json");
        check_custom_handler(&host).expect("the repository's host.json forwards");
        let mut prefixed = host.clone();
        prefixed["extensions"]["http"]["routePrefix"] = json!("api");
        let error = check_custom_handler(&prefixed).expect_err("a prefix");
        assert!(
            error.to_string().contains("routePrefix must be \"\""),
            "{error}"
        );
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
        let mut expected = vec!["handler".to_owned(), "host.json".to_owned()];
        for function in FUNCTIONS {
            expected.push(format!("{}/", function.name));
            expected.push(format!("{}/function.json", function.name));
        }
        expected.sort();
        assert_eq!(names, expected);
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

        // What the tests run is the zip's own executable, byte for byte.
        let extracted = extract_handler(&path, &folder.path().join("run")).expect("extracted");
        assert_eq!(
            fs::read(&extracted).expect("handler"),
            b"#!/bin/sh\necho dummy handler\n"
        );
        let output = std::process::Command::new(&extracted)
            .output()
            .expect("the extracted handler runs");
        assert_eq!(output.stdout, b"dummy handler\n");
    }

    #[test]
    fn the_shipped_build_is_locked_and_pinned_to_the_glibc_floor() {
        assert_eq!(
            zigbuild_args("fluxops-handler", "handler").join(" "),
            "zigbuild --release --locked -p fluxops-handler --bin handler --target x86_64-unknown-linux-gnu.2.28"
        );
    }

    #[test]
    fn a_handler_that_needs_a_newer_glibc_is_refused() {
        use crate::elf::tests::elf_needing;

        let error = check_glibc_floor(&elf_needing(&["GLIBC_2.17", "GLIBC_2.29"]))
            .expect_err("above the floor");
        assert!(
            error
                .to_string()
                .contains("GLIBC_2.29, newer than the GLIBC_2.28 floor"),
            "{error}"
        );
        assert_eq!(
            check_glibc_floor(&elf_needing(&["GLIBC_2.28", "GLIBC_2.2.5"])).expect("at the floor"),
            Some(GLIBC_FLOOR)
        );
        assert_eq!(check_glibc_floor(&elf_needing(&[])).expect("static"), None);
        assert!(check_glibc_floor(b"not an executable").is_err());
    }
}
