//! `fluxops-train` as a data scientist runs it: real files in temporary folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use fluxops_inference::{
    ClassLabel, ClassLabels, Evaluation, Model, ModelLimits, Prediction, Task,
};

struct Run {
    output: Output,
    out_dir: PathBuf,
    folder: tempfile::TempDir,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn assert_succeeded(&self) {
        assert!(self.output.status.success(), "{}", self.stderr());
    }

    /// The phases the run started, in order, from its debug log.
    fn phases_started(&self) -> Vec<String> {
        self.stdout()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["message"] == "trainer phase started")
            .filter_map(|event| event["phase"].as_str().map(str::to_owned))
            .collect()
    }

    /// Asserts the run failed with exit status 1, wrote nothing, and its message mentions each
    /// of `parts`.
    fn assert_refused(&self, parts: &[&str]) {
        assert_eq!(
            self.output.status.code(),
            Some(1),
            "expected a refusal, got: {}\n{}",
            self.stdout(),
            self.stderr()
        );
        let stderr = self.stderr();
        for part in parts {
            assert!(stderr.contains(part), "stderr lacks {part:?}:\n{stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!self.out_dir.exists(), "a refused run must write nothing");
    }

    /// Asserts the run was refused as [`Run::assert_refused`] says, in `phase` at the latest:
    /// in particular before anything was fitted.
    fn assert_refused_by(&self, phase: &str, parts: &[&str]) {
        self.assert_refused(parts);
        let started = self.phases_started();
        assert_eq!(
            started.last().map(String::as_str),
            Some(phase),
            "{started:?}"
        );
        assert!(
            !started.iter().any(|started| started == "fit"),
            "{started:?}"
        );
    }
}

/// `fluxops-train` writing into `out_dir`, logging its phases as JSON lines on stdout.
fn trainer(out_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fluxops-train"));
    command
        .arg("--out")
        .arg(out_dir)
        .env("RUST_LOG", "info,fluxops_trainer=debug")
        .env("FLUXOPS_LOG_FORMAT", "json");
    command
}

/// Runs `fluxops-train` on `csv` (written to `data.csv`, unless `None`) with `args`.
fn train(csv: Option<&str>, args: &[&str]) -> Run {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("data.csv");
    if let Some(csv) = csv {
        std::fs::write(&data, csv).unwrap();
    }
    let data = data.to_str().unwrap().to_owned();
    run_in(
        folder,
        &[&["--data", &data, "--n-trees", "10"], args].concat(),
    )
}

/// Runs `fluxops-train --synthetic` with `args`.
fn train_synthetic(args: &[&str]) -> Run {
    run_in(
        tempfile::tempdir().unwrap(),
        &[&["--synthetic"], args].concat(),
    )
}

/// Runs `fluxops-train args...` writing into `models` in `folder`.
fn run_in(folder: tempfile::TempDir, args: &[&str]) -> Run {
    let out_dir = folder.path().join("models");
    let output = trainer(&out_dir).args(args).output().unwrap();
    Run {
        output,
        out_dir,
        folder,
    }
}

/// A CSV of `rows` rows with three features and labels cycling through `labels`.
fn csv(rows: usize, labels: &[i64]) -> String {
    let mut text = String::from("x,y,z,target\n");
    for row in 0..rows {
        let label = labels[row % labels.len()];
        let x = label as f64 + (row as f64 * 0.37).sin() * 0.3;
        text.push_str(&format!("{x},{},{},{label}\n", (row as f64).cos(), row % 7));
    }
    text
}

fn latest_model(out_dir: &Path, name: &str) -> Model {
    let pointer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join(name).join("latest.json")).unwrap())
            .unwrap();
    let path = out_dir.join(pointer["path"].as_str().unwrap());
    Model::from_json(&std::fs::read(path).unwrap(), &ModelLimits::default()).unwrap()
}

fn latest_metrics(out_dir: &Path, name: &str) -> serde_json::Value {
    let version = latest_model(out_dir, name).metadata().version.clone();
    let path = out_dir.join(name).join(version).join("metrics.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn trains_a_three_class_model_with_arbitrary_labels() {
    let run = train(Some(&csv(150, &[-5, 7, 42])), &["--name", "three"]);
    run.assert_succeeded();
    let stdout = run.stdout();
    assert!(stdout.contains("accuracy"), "{stdout}");
    assert!(
        stdout.contains("compiled forest == smartcore on all 30 test rows"),
        "{stdout}"
    );
    let model = latest_model(&run.out_dir, "three");
    assert_eq!(
        model.schema().task,
        Task::Classifier {
            labels: ClassLabels::Integers(vec![-5, 7, 42])
        }
    );
    assert_eq!(model.schema().feature_names, vec!["x", "y", "z"]);
    let prediction = model.predictor().predict_one(&[42.0, 0.0, 1.0]).unwrap();
    assert!(
        matches!(prediction, Prediction::Class(ref class) if class.label == ClassLabel::Integer(42)),
        "{prediction:?}"
    );
    let metrics = latest_metrics(&run.out_dir, "three");
    assert_eq!(metrics["task"], "classification");
    assert_eq!(
        metrics["evaluation"]["confusion_matrix"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(metrics["evaluation"]["accuracy"].as_f64().unwrap() > 0.9);
    // One phase vocabulary: the phases the log announced are the ones metrics.json times.
    let timed: Vec<&String> = metrics["phase_millis"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let started = run.phases_started();
    assert_eq!(
        started,
        [
            "load", "split", "fit", "compile", "check", "evaluate", "write"
        ]
    );
    for phase in &started[..6] {
        assert!(timed.contains(&phase), "{timed:?}");
    }
}

#[test]
fn trains_a_regressor_on_a_numeric_target() {
    let mut text = String::from("x,y,price\n");
    for row in 0..200 {
        let (x, y) = ((row as f64 * 0.13).sin(), (row % 11) as f64);
        text.push_str(&format!(
            "{x},{y},{}\n",
            3.0 * x + y * 0.5 + 0.01 * row as f64
        ));
    }
    let run = train(
        Some(&text),
        &[
            "--task",
            "regression",
            "--target",
            "price",
            "--name",
            "prices",
        ],
    );
    run.assert_succeeded();
    let stdout = run.stdout();
    for line in [
        "random_forest_regressor",
        "compiled forest == smartcore on all 40 test rows",
        "rmse",
        "mae",
        "r2",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    let model = latest_model(&run.out_dir, "prices");
    assert_eq!(model.schema().task, Task::Regressor {});
    assert_eq!(model.schema().feature_names, vec!["x", "y"]);
    let Some(Evaluation::Regression(evaluation)) = &model.metadata().evaluation else {
        panic!("a regressor's artifact carries a regression evaluation");
    };
    assert!(evaluation.r2 > 0.8, "{evaluation:?}");
    let metrics = latest_metrics(&run.out_dir, "prices");
    assert_eq!(metrics["task"], "regression");
    assert_eq!(metrics["evaluation"]["r2"].as_f64(), Some(evaluation.r2));
    assert_eq!(
        metrics["evaluation"]["rmse"].as_f64(),
        Some(evaluation.rmse)
    );
    assert_eq!(metrics["evaluation"]["mae"].as_f64(), Some(evaluation.mae));
    assert!(matches!(
        model.predictor().predict_one(&[0.5, 3.0]),
        Ok(Prediction::Values(ref values)) if values.len() == 1
    ));
}

#[test]
fn a_regression_target_must_be_a_finite_number() {
    let text = "x,target\n1,0.5\n2,1.5\n3,NaN\n";
    train(Some(text), &["--task", "regression"]).assert_refused_by(
        "load",
        &[
            "line 4",
            "column \"target\"",
            "\"NaN\" is not a finite number",
        ],
    );
}

#[test]
fn a_second_run_adds_a_version_and_moves_latest() {
    let run = train(Some(&csv(60, &[0, 1])), &[]);
    run.assert_succeeded();
    let first = latest_model(&run.out_dir, "fluxops")
        .metadata()
        .version
        .clone();
    let again = trainer(&run.out_dir)
        .arg("--data")
        .arg(run.folder.path().join("data.csv"))
        .args(["--n-trees", "10", "--seed", "9"])
        .output()
        .unwrap();
    assert!(again.status.success());
    let second = latest_model(&run.out_dir, "fluxops")
        .metadata()
        .version
        .clone();
    assert_ne!(first, second);
    assert!(
        run.out_dir
            .join("fluxops")
            .join(&first)
            .join("model.json")
            .exists()
    );
}

#[test]
fn synthetic_reference_data_needs_no_file() {
    let run = train_synthetic(&["400", "--n-trees", "20"]);
    run.assert_succeeded();
    let model = latest_model(&run.out_dir, "fluxops");
    assert_eq!(model.predictor().n_features(), 10);
    assert!(matches!(
        model.metadata().evaluation,
        Some(Evaluation::Classification(ref evaluation)) if evaluation.accuracy > 0.85
    ));
    assert!(!run.stderr().contains("warning"), "{}", run.stderr());
}

#[test]
fn a_closed_standard_output_is_not_an_error() {
    // `fluxops-train ... | head`: the reader is gone before the first line is written.
    let folder = tempfile::tempdir().unwrap();
    let out_dir = folder.path().join("models");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = trainer(&out_dir)
        .args(["--synthetic", "200", "--n-trees", "8"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("standard output"), "{stderr}");
    latest_model(&out_dir, "fluxops");
}

#[test]
fn missing_file() {
    train(None, &[]).assert_refused_by("load", &["cannot read", "data.csv"]);
}

#[test]
fn empty_file() {
    train(Some(""), &[]).assert_refused_by("load", &["data.csv is empty"]);
    train(Some("x,target\n"), &[]).assert_refused_by("load", &["data.csv is empty"]);
}

#[test]
fn missing_target_column() {
    train(Some("x,y\n1,2\n"), &[])
        .assert_refused_by("load", &["no target column \"target\"", "columns: x, y"]);
}

#[test]
fn duplicate_column_names() {
    train(Some("x,y,x,target\n1,2,3,0\n"), &[]).assert_refused_by(
        "load",
        &["column name \"x\" appears twice (columns 1 and 3)"],
    );
}

#[test]
fn more_columns_than_a_model_may_have_features() {
    let header: Vec<String> = (0..100_001).map(|column| format!("f{column}")).collect();
    let text = format!("{},target\n", header.join(","));
    train(Some(&text), &[]).assert_refused_by(
        "load",
        &["100002 columns, more than the 100001", "drop columns"],
    );
}

#[test]
fn a_file_over_the_data_cap_is_refused() {
    let text = csv(200, &[0, 1]);
    assert!(text.len() > 4000);
    train(Some(&text), &["--max-data-bytes", "4000"]).assert_refused_by(
        "load",
        &[
            "data.csv",
            &format!("is {} bytes, more than the limit of 4000 bytes", text.len()),
            "raise --max-data-bytes",
        ],
    );
    train(Some(&text), &["--max-data-bytes", &text.len().to_string()]).assert_succeeded();
}

#[test]
fn thirty_thousand_labels_are_refused_before_fitting() {
    let mut text = String::from("x,target\n");
    for row in 0..90_000 {
        text.push_str(&format!("{row},{}\n", row % 30_000));
    }
    train(Some(&text), &[]).assert_refused_by(
        "split",
        &[
            "target column \"target\" holds 30000 classes",
            "more than the 1000",
            "--task regression",
        ],
    );
}

#[test]
fn a_synthetic_set_over_the_data_cap_is_refused_before_it_is_made() {
    train_synthetic(&["100000000000"]).assert_refused_by(
        "load",
        &[
            "--synthetic 100000000000 with 10 features is 8000000000000 bytes",
            "--max-data-bytes",
        ],
    );
}

#[test]
fn non_numeric_cell() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,abc,3,1\n");
    train(Some(&text), &[]).assert_refused_by(
        "load",
        &["line 42", "column \"y\"", "\"abc\" is not a finite number"],
    );
}

#[test]
fn empty_cell() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,,3,1\n");
    train(Some(&text), &[]).assert_refused_by("load", &["line 42", "column \"y\"", "empty cell"]);
}

#[test]
fn non_integer_label() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,2.0,3,0.5\n");
    train(Some(&text), &[]).assert_refused_by(
        "load",
        &["line 42", "column \"target\"", "not an integer class label"],
    );
}

#[test]
fn ragged_row() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,2.0,1\n");
    train(Some(&text), &[]).assert_refused_by("load", &["line 42", "expected 4 cells", "found 3"]);
}

#[test]
fn fewer_than_two_classes() {
    train(Some(&csv(40, &[3])), &[])
        .assert_refused_by("split", &["holds only class 3", "at least two classes"]);
}

#[test]
fn fewer_rows_than_the_split_needs() {
    // Class 1 has two rows: 20% of 2 rounds to 0 test rows.
    let text = "x,target\n1,0\n2,0\n3,0\n4,0\n5,0\n6,0\n7,1\n8,1\n";
    train(Some(text), &[]).assert_refused_by("split", &["class 1 has 2 row(s)", "--test-size"]);
}

#[test]
fn parameters_out_of_range() {
    let run = train(Some(&csv(40, &[0, 1])), &["--test-size", "1.5"]);
    run.assert_refused(&["--test-size must be between 0 and 1"]);
    assert!(!run.phases_started().iter().any(|phase| phase == "fit"));
}
