//! `fluxops-train` as a data scientist runs it: real files in temporary folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fluxops_inference::{
    ClassLabel, ClassLabels, Evaluation, Model, ModelLimits, Prediction, Task,
};

struct Run {
    output: Output,
    out_dir: PathBuf,
    _folder: tempfile::TempDir,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Asserts the run failed, wrote nothing, and its message mentions each of `parts`.
    fn assert_refused(&self, parts: &[&str]) {
        assert!(
            !self.output.status.success(),
            "expected failure, got: {}",
            self.stdout()
        );
        let stderr = self.stderr();
        for part in parts {
            assert!(stderr.contains(part), "stderr lacks {part:?}:\n{stderr}");
        }
        assert!(!self.out_dir.exists(), "a refused run must write nothing");
    }
}

/// Runs `fluxops-train` on `csv` (written to `data.csv`, unless `None`) with `args`.
fn train(csv: Option<&str>, args: &[&str]) -> Run {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("data.csv");
    if let Some(csv) = csv {
        std::fs::write(&data, csv).unwrap();
    }
    let out_dir = folder.path().join("models");
    let output = Command::new(env!("CARGO_BIN_EXE_fluxops-train"))
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out_dir)
        .args(["--n-trees", "10"])
        .args(args)
        .output()
        .unwrap();
    Run {
        output,
        out_dir,
        _folder: folder,
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

#[test]
fn trains_a_three_class_model_with_arbitrary_labels() {
    let run = train(Some(&csv(150, &[-5, 7, 42])), &["--name", "three"]);
    assert!(run.output.status.success(), "{}", run.stderr());
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
    let version_folder = run.out_dir.join("three").join(&model.metadata().version);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(version_folder.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(
        metrics["evaluation"]["confusion_matrix"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(metrics["evaluation"]["accuracy"].as_f64().unwrap() > 0.9);
}

#[test]
fn a_second_run_adds_a_version_and_moves_latest() {
    let run = train(Some(&csv(60, &[0, 1])), &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let first = latest_model(&run.out_dir, "fluxops")
        .metadata()
        .version
        .clone();
    let data = run.out_dir.parent().unwrap().join("data.csv");
    let again = Command::new(env!("CARGO_BIN_EXE_fluxops-train"))
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&run.out_dir)
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
    let folder = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fluxops-train"))
        .args(["--synthetic", "400", "--n-trees", "20", "--out"])
        .arg(folder.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let model = latest_model(folder.path(), "fluxops");
    assert_eq!(model.predictor().n_features(), 10);
    assert!(matches!(
        model.metadata().evaluation,
        Some(Evaluation::Classification(ref evaluation)) if evaluation.accuracy > 0.85
    ));
}

#[test]
fn missing_file() {
    train(None, &[]).assert_refused(&["cannot read", "data.csv"]);
}

#[test]
fn empty_file() {
    train(Some(""), &[]).assert_refused(&["data.csv is empty"]);
    train(Some("x,target\n"), &[]).assert_refused(&["data.csv is empty"]);
}

#[test]
fn missing_target_column() {
    train(Some("x,y\n1,2\n"), &[])
        .assert_refused(&["no target column \"target\"", "columns: x, y"]);
}

#[test]
fn non_numeric_cell() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,abc,3,1\n");
    train(Some(&text), &[]).assert_refused(&[
        "line 42",
        "column \"y\"",
        "\"abc\" is not a finite number",
    ]);
}

#[test]
fn empty_cell() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,,3,1\n");
    train(Some(&text), &[]).assert_refused(&["line 42", "column \"y\"", "empty cell"]);
}

#[test]
fn non_integer_label() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,2.0,3,0.5\n");
    train(Some(&text), &[]).assert_refused(&[
        "line 42",
        "column \"target\"",
        "not an integer class label",
    ]);
}

#[test]
fn ragged_row() {
    let mut text = csv(40, &[0, 1]);
    text.push_str("1.0,2.0,1\n");
    train(Some(&text), &[]).assert_refused(&["line 42", "expected 4 cells", "found 3"]);
}

#[test]
fn fewer_than_two_classes() {
    train(Some(&csv(40, &[3])), &[])
        .assert_refused(&["holds only class 3", "at least two classes"]);
}

#[test]
fn fewer_rows_than_the_split_needs() {
    // Class 1 has two rows: 20% of 2 rounds to 0 test rows.
    let text = "x,target\n1,0\n2,0\n3,0\n4,0\n5,0\n6,0\n7,1\n8,1\n";
    train(Some(text), &[]).assert_refused(&["class 1 has 2 row(s)", "--test-size"]);
}

#[test]
fn parameters_out_of_range() {
    train(Some(&csv(40, &[0, 1])), &["--test-size", "1.5"])
        .assert_refused(&["--test-size must be between 0 and 1"]);
}
