use thiserror::Error;

/// Why training data could not be used. Every variant names the file, and the line and column
/// where there is one (lines count from 1 and include the header).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file has no header or no data rows.
    #[error("{file} is empty: expected a header row and at least one data row")]
    Empty {
        /// The file.
        file: String,
    },
    /// The header has no column named like the target.
    #[error(
        "{file} has no target column {target:?} (columns: {columns}); choose one with --target"
    )]
    MissingTarget {
        /// The file.
        file: String,
        /// The target column asked for.
        target: String,
        /// The columns found.
        columns: String,
    },
    /// A column has no name.
    #[error("{file}: column {position} of the header has no name; name every column")]
    EmptyColumnName {
        /// The file.
        file: String,
        /// The column's position, from 1.
        position: usize,
    },
    /// Two columns have the same name.
    #[error(
        "{file}: column name {column:?} appears twice (columns {first} and {second}); give every column its own name"
    )]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The repeated name.
        column: String,
        /// Position of its first use, from 1.
        first: usize,
        /// Position of its second use, from 1.
        second: usize,
    },
    /// More columns than a served model may have features, plus the target.
    #[error(
        "{file} has {found} columns, more than the {max} a model can be trained on (the handler's default cap on features, plus the target); drop columns first"
    )]
    TooManyColumns {
        /// The file.
        file: String,
        /// Columns in the header.
        found: usize,
        /// The most allowed.
        max: usize,
    },
    /// The target is the only column.
    #[error("{file} has no feature columns besides the target")]
    NoFeatures {
        /// The file.
        file: String,
    },
    /// A row has a different number of cells than the header.
    #[error("{file} line {line}: expected {expected} cells like the header, found {found}")]
    Ragged {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// Cells in the header.
        expected: usize,
        /// Cells in the row.
        found: usize,
    },
    /// A cell is empty.
    #[error(
        "{file} line {line} column {column:?}: empty cell; fill or drop missing values before training"
    )]
    EmptyCell {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The column name.
        column: String,
    },
    /// A feature cell, or a regression target, is not a finite number.
    #[error("{file} line {line} column {column:?}: {value:?} is not a finite number")]
    NotNumeric {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The column name.
        column: String,
        /// The cell as read.
        value: String,
    },
    /// A target cell is not an integer class label.
    #[error(
        "{file} line {line} column {column:?}: {value:?} is not an integer class label (32-bit)"
    )]
    BadLabel {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The column name.
        column: String,
        /// The cell as read.
        value: String,
    },
    /// The target column holds a single class.
    #[error(
        "{file}: target column {target:?} holds only class {label}; a classifier needs at least two classes"
    )]
    OneClass {
        /// The file.
        file: String,
        /// The target column.
        target: String,
        /// The only label.
        label: i64,
    },
    /// The target column holds more classes than a served model may have.
    #[error(
        "{file}: target column {target:?} holds {found} classes, more than the {max} a served model may have by default; is it a class label, or a number to predict with --task regression?"
    )]
    TooManyClasses {
        /// The file.
        file: String,
        /// The target column.
        target: String,
        /// Distinct labels found.
        found: usize,
        /// The most allowed.
        max: usize,
    },
    /// The synthetic data set asked for is larger than the data cap.
    #[error(
        "--synthetic {n_rows} with {n_features} features is {bytes} bytes of values, more than --max-data-bytes {max_bytes}; ask for fewer rows or raise --max-data-bytes"
    )]
    SyntheticTooLarge {
        /// Rows asked for.
        n_rows: usize,
        /// Features per row.
        n_features: usize,
        /// Bytes the values would take.
        bytes: u128,
        /// The cap.
        max_bytes: u64,
    },
    /// Any other CSV syntax problem.
    #[error("{file} line {line}: {message}")]
    Csv {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The CSV parser's message.
        message: String,
    },
}

/// Why training stopped after the data was read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The data could not be used.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    Parameter(String),
    /// A class has too few rows to appear in both the training and the test split.
    #[error(
        "class {label} has {rows} row(s): too few to appear in both the training and the test split (test size {test_size}); add rows or change --test-size"
    )]
    TooFewRows {
        /// The class.
        label: i64,
        /// Its rows.
        rows: usize,
        /// The test share asked for.
        test_size: f64,
    },
    /// Too few rows to leave at least one on each side of the split.
    #[error(
        "{rows} row(s) cannot be split into training and test sets of at least one row each (test size {test_size}); add rows or change --test-size"
    )]
    TooFewRowsToSplit {
        /// Rows in the data set.
        rows: usize,
        /// The test share asked for.
        test_size: f64,
    },
    /// smartcore failed to fit.
    #[error("smartcore could not fit the forest: {0}")]
    Fit(String),
    /// smartcore's serialised forest no longer has the layout this trainer reads.
    #[error(
        "smartcore's serialised forest layout changed (this trainer reads smartcore 0.7.0): {0}"
    )]
    SmartcoreLayout(String),
    /// The compiled forest disagrees with smartcore: the artifact is not written.
    #[error("compiled forest disagrees with smartcore on {what}; refusing to write the artifact")]
    Disagreement {
        /// Where the two differ.
        what: String,
    },
    /// The compiled forest is invalid.
    #[error("compiled forest is invalid: {0}")]
    Forest(#[from] fluxops_inference::ArtifactError),
}
