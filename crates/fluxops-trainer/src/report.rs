//! The human-readable summary of a training run.

use std::fmt::Write;

use fluxops_inference::{ClassificationEvaluation, Evaluation, RegressionEvaluation};

use crate::train::TrainOutcome;

/// Renders a run's evaluation as a table a person can read in a terminal.
pub fn render_report(outcome: &TrainOutcome) -> String {
    let report = outcome.report();
    let parameters = &outcome.artifact().metadata.algorithm.parameters;
    let parameter = |name: &str| {
        parameters
            .get(name)
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    let data = &report.training_data;
    let mut text = String::new();
    let _ = writeln!(text, "model     {} version {}", report.name, report.version);
    let _ = writeln!(
        text,
        "data      {} ({} rows: {} train / {} test)",
        data.source, data.n_rows, data.n_train_rows, data.n_test_rows
    );
    let _ = writeln!(
        text,
        "forest    {}, {} trees, max depth {}, {} shards, seed {}",
        outcome.artifact().metadata.algorithm.name,
        parameter("n_trees"),
        parameters
            .get("max_depth")
            .and_then(serde_json::Value::as_u64)
            .map_or_else(|| "unlimited".to_owned(), |depth| depth.to_string()),
        parameter("n_shards"),
        parameter("seed")
    );
    let _ = writeln!(
        text,
        "checked   compiled forest == smartcore on all {} test rows",
        report.rows_checked_against_smartcore
    );
    match &report.evaluation {
        Evaluation::Classification(evaluation) => render_classification(&mut text, evaluation),
        Evaluation::Regression(evaluation) => render_regression(&mut text, evaluation),
    }
    text
}

/// Accuracy, per-class precision, recall and F1, and the confusion matrix.
fn render_classification(text: &mut String, evaluation: &ClassificationEvaluation) {
    let _ = writeln!(text, "accuracy  {:.4}\n", evaluation.accuracy);
    let _ = writeln!(
        text,
        "{:>12} {:>10} {:>10} {:>10} {:>9}",
        "class", "precision", "recall", "f1", "support"
    );
    for class in &evaluation.per_class {
        let _ = writeln!(
            text,
            "{:>12} {:>10.4} {:>10.4} {:>10.4} {:>9}",
            class.label, class.precision, class.recall, class.f1, class.support
        );
    }
    for (name, average) in [
        ("macro avg", &evaluation.macro_avg),
        ("weighted avg", &evaluation.weighted_avg),
    ] {
        let _ = writeln!(
            text,
            "{:>12} {:>10.4} {:>10.4} {:>10.4} {:>9}",
            name, average.precision, average.recall, average.f1, evaluation.n_samples
        );
    }
    let _ = writeln!(
        text,
        "\nconfusion matrix (rows: true class, columns: predicted)"
    );
    let labels: Vec<i64> = evaluation
        .per_class
        .iter()
        .map(|class| class.label)
        .collect();
    let _ = write!(text, "{:>12}", "");
    for label in &labels {
        let _ = write!(text, " {label:>8}");
    }
    let _ = writeln!(text);
    for (label, row) in labels.iter().zip(&evaluation.confusion_matrix) {
        let _ = write!(text, "{label:>12}");
        for count in row {
            let _ = write!(text, " {count:>8}");
        }
        let _ = writeln!(text);
    }
}

/// Root mean squared error, mean absolute error and R² on the test rows.
fn render_regression(text: &mut String, evaluation: &RegressionEvaluation) {
    let _ = writeln!(text, "rmse      {:.6}", evaluation.rmse);
    let _ = writeln!(text, "mae       {:.6}", evaluation.mae);
    let _ = writeln!(
        text,
        "r2        {:.4}   ({} test rows)",
        evaluation.r2, evaluation.n_samples
    );
}
