//! The forest: its serialised form ([`ForestSpec`]) and the compiled form used to predict
//! ([`CompiledForest`]).

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{ForestError, InputError};

/// One node of a serialised tree.
///
/// A split sends a row to `left` when `row[feature] <= threshold` and to `right` otherwise, as
/// smartcore does. Children are indices into the same tree's node list and always come after their
/// parent, which makes cycles impossible by construction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeSpec {
    /// An internal node that tests one feature.
    Split {
        /// Index of the feature tested.
        feature: usize,
        /// Rows with `row[feature] <= threshold` go left.
        threshold: f64,
        /// Index of the left ("true") child.
        left: usize,
        /// Index of the right ("false") child.
        right: usize,
    },
    /// A leaf that votes for one class.
    Leaf {
        /// Index into the forest's classes.
        class: usize,
    },
}

/// One serialised tree: node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSpec {
    /// The nodes, root first; children always after their parent.
    pub nodes: Vec<NodeSpec>,
}

/// The serialised forest: what the artifact stores and its digest covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestSpec {
    /// Number of input features every row must have.
    pub n_features: usize,
    /// Number of classes leaves may vote for.
    pub n_classes: usize,
    /// The trees; each casts one vote.
    pub trees: Vec<TreeSpec>,
}

/// One step of the compiled layout: 16 bytes, four to a cache line.
///
/// Nodes are laid out in pre-order, so the left child of node `i` is always `i + 1` and only
/// the right child needs storing. A leaf is encoded as a node that loops on itself
/// (`threshold = NaN`, so the comparison is false, and `right = i`): a walk can then run a
/// fixed number of steps with no branch on "is this a leaf", which lets several walks run
/// interleaved and keeps the hot loop free of unpredictable branches.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Step {
    threshold: f64,
    feature: u32,
    right: u32,
}

/// Where a tree starts in the flat node array, and how many steps reach any of its leaves.
#[derive(Debug, Clone, Copy)]
struct TreeRoot {
    root: u32,
    depth: u32,
}

/// How many walks run interleaved. Eight independent load chains hide most of the memory latency
/// of a walk without spilling registers.
const LANES: usize = 8;

/// Rows per thread below which [`CompiledForest::votes_batch`] does not split a batch.
pub const PARALLEL_MIN_ROWS: usize = 1024;

/// A forest compiled into one flat, cache-friendly array for prediction.
///
/// Layout: structure of one packed array of [`Step`]s for all trees (pre-order, left child
/// implicit), a parallel array of leaf classes read once per walk, and a root table. Trees are
/// ordered by depth so that interleaved walks over groups of trees do little wasted work.
/// Prediction is a majority vote with ties going to the lowest class index (smartcore's rule);
/// the probability of a class is the share of trees voting for it.
#[derive(Debug, Clone)]
pub struct CompiledForest {
    steps: Vec<Step>,
    leaf_class: Vec<u32>,
    roots: Vec<TreeRoot>,
    n_features: usize,
    n_classes: usize,
}

/// Votes of a single row, with the winning class.
#[derive(Debug, Clone, PartialEq)]
pub struct Votes {
    /// Number of trees voting for each class.
    pub counts: Vec<u32>,
    /// Index of the winning class (lowest index on a tie).
    pub winner: usize,
}

impl CompiledForest {
    /// Checks a serialised forest and compiles it.
    ///
    /// Fails, naming the tree and node, on an empty forest or tree, a child index that is out
    /// of range or not after its parent, a node reached twice or never, a feature or class index
    /// out of range, or a non-finite threshold.
    pub fn compile(spec: &ForestSpec) -> Result<Self, ForestError> {
        if spec.trees.is_empty() || spec.n_features == 0 || spec.n_classes == 0 {
            return Err(ForestError::Empty);
        }
        let n_steps: usize = spec.trees.iter().map(|tree| tree.nodes.len()).sum();
        if n_steps >= u32::MAX as usize {
            return Err(ForestError::TooLarge { n_nodes: n_steps });
        }
        let mut forest = CompiledForest {
            steps: Vec::with_capacity(n_steps),
            leaf_class: Vec::with_capacity(n_steps),
            roots: Vec::with_capacity(spec.trees.len()),
            n_features: spec.n_features,
            n_classes: spec.n_classes,
        };
        for (tree_idx, tree) in spec.trees.iter().enumerate() {
            check_tree(tree_idx, tree, spec.n_features, spec.n_classes)?;
            let root = forest.steps.len();
            let depth = forest.push_preorder(tree);
            forest.roots.push(TreeRoot {
                root: to_u32(root),
                depth: to_u32(depth),
            });
        }
        forest.roots.sort_by_key(|tree| tree.depth);
        Ok(forest)
    }

    /// Appends one checked tree in pre-order and returns its depth in steps.
    fn push_preorder(&mut self, tree: &TreeSpec) -> usize {
        let offset = self.steps.len();
        let mut max_depth = 0;
        // (node index in the spec, depth, position of the parent step whose `right` awaits this node)
        let mut stack = vec![(0_usize, 0_usize, None::<usize>)];
        while let Some((node_idx, depth, parent_right)) = stack.pop() {
            let position = self.steps.len();
            if let Some(parent) = parent_right {
                self.steps[parent].right = to_u32(position);
            }
            max_depth = max_depth.max(depth);
            match tree.nodes[node_idx] {
                NodeSpec::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    self.steps.push(Step {
                        threshold,
                        feature: to_u32(feature),
                        right: u32::MAX,
                    });
                    self.leaf_class.push(u32::MAX);
                    // The right subtree is laid out after the whole left one: push it first.
                    stack.push((right, depth + 1, Some(position)));
                    stack.push((left, depth + 1, None));
                }
                NodeSpec::Leaf { class } => {
                    self.steps.push(Step {
                        threshold: f64::NAN,
                        feature: 0,
                        right: to_u32(position),
                    });
                    self.leaf_class.push(to_u32(class));
                }
            }
        }
        debug_assert_eq!(self.steps.len() - offset, tree.nodes.len());
        max_depth
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Checks one row: right length and every value finite.
    pub fn check_row(&self, row: &[f64], row_idx: Option<usize>) -> Result<(), InputError> {
        if row.len() != self.n_features {
            return Err(InputError::WrongFeatureCount {
                row: row_idx,
                expected: self.n_features,
                actual: row.len(),
            });
        }
        match row.iter().position(|value| !value.is_finite()) {
            Some(index) => Err(InputError::NonFinite {
                row: row_idx,
                index,
            }),
            None => Ok(()),
        }
    }

    /// Counts the votes of every tree for one row, after checking it.
    pub fn votes(&self, row: &[f64]) -> Result<Votes, InputError> {
        self.check_row(row, None)?;
        let mut counts = vec![0_u32; self.n_classes];
        // Lanes run over trees: up to LANES trees walk the same row at once.
        let rows = [row; LANES];
        for group in self.roots.chunks(LANES) {
            let depth = group.last().map_or(0, |tree| tree.depth);
            // A short last group repeats its first tree in the spare lanes; their votes are dropped.
            let mut positions = [group[0].root; LANES];
            for (position, tree) in positions.iter_mut().zip(group) {
                *position = tree.root;
            }
            let positions = self.walk(positions, &rows, depth);
            for &position in &positions[..group.len()] {
                counts[self.leaf_class[position as usize] as usize] += 1;
            }
        }
        let winner = winner(&counts);
        Ok(Votes { counts, winner })
    }

    /// Counts the votes for every row of a batch, after checking all of it, on up to
    /// `n_threads` threads (scoped; only batches of at least [`PARALLEL_MIN_ROWS`] rows are
    /// split, as smaller ones finish before a thread would start).
    ///
    /// Returns a `rows x n_classes` vote table, row-major. Fails on the first bad row, naming it.
    pub fn votes_batch(
        &self,
        rows: ArrayView2<'_, f64>,
        n_threads: usize,
    ) -> Result<Vec<u32>, InputError> {
        if rows.nrows() == 0 {
            return Err(InputError::EmptyBatch);
        }
        let width = rows.ncols();
        if width != self.n_features {
            return Err(InputError::WrongFeatureCount {
                row: Some(0),
                expected: self.n_features,
                actual: width,
            });
        }
        let rows = rows.as_standard_layout();
        let flat = rows.as_slice().unwrap_or_default();
        for (row_idx, row) in flat.chunks_exact(width).enumerate() {
            self.check_row(row, Some(row_idx))?;
        }
        let mut table = vec![0_u32; rows.nrows() * self.n_classes];
        let n_threads = n_threads.clamp(1, rows.nrows().div_ceil(PARALLEL_MIN_ROWS));
        if n_threads == 1 {
            self.fill_votes(flat, &mut table);
        } else {
            // Whole blocks of LANES rows per thread, so every thread runs full interleaved walks.
            let rows_per_thread = rows.nrows().div_ceil(n_threads).next_multiple_of(LANES);
            std::thread::scope(|scope| {
                for (row_chunk, table_chunk) in flat
                    .chunks(rows_per_thread * width)
                    .zip(table.chunks_mut(rows_per_thread * self.n_classes))
                {
                    scope.spawn(move || self.fill_votes(row_chunk, table_chunk));
                }
            });
        }
        Ok(table)
    }

    /// Adds the votes of checked, row-major `rows` into `table` (`rows x n_classes`).
    fn fill_votes(&self, rows: &[f64], table: &mut [u32]) {
        let width = self.n_features;
        // Lanes run over rows: each tree walks up to LANES rows at once while it is hot in cache.
        for (block, block_table) in rows
            .chunks(width * LANES)
            .zip(table.chunks_mut(self.n_classes * LANES))
        {
            // A short last block repeats its first row in the spare lanes; their votes are dropped.
            let mut block_rows: [&[f64]; LANES] = [&block[..width]; LANES];
            for (slot, row) in block_rows.iter_mut().zip(block.chunks_exact(width)) {
                *slot = row;
            }
            let n_rows = block.len() / width;
            for tree in &self.roots {
                let positions = self.walk([tree.root; LANES], &block_rows, tree.depth);
                for (lane, &position) in positions[..n_rows].iter().enumerate() {
                    block_table
                        [lane * self.n_classes + self.leaf_class[position as usize] as usize] += 1;
                }
            }
        }
    }

    /// Walks LANES independent (position, row) pairs `depth` steps each.
    ///
    /// The lane count is fixed so the inner loop unrolls and the positions stay in registers:
    /// eight independent load chains overlap instead of waiting on each other.
    #[inline(always)]
    fn walk(
        &self,
        mut positions: [u32; LANES],
        rows: &[&[f64]; LANES],
        depth: u32,
    ) -> [u32; LANES] {
        for _ in 0..depth {
            for lane in 0..LANES {
                positions[lane] = self.step(positions[lane], rows[lane]);
            }
        }
        positions
    }

    /// Takes one step of a walk: left child (next step) when `row[feature] <= threshold`.
    ///
    /// Which way a row goes is a coin toss the branch predictor loses half the time, so this asks
    /// for a conditional move rather than a branch: the step then costs the same every time and
    /// the interleaved walks overlap. A leaf's NaN threshold always goes "right", to itself.
    #[inline(always)]
    fn step(&self, position: u32, row: &[f64]) -> u32 {
        let step = self.steps[position as usize];
        let go_left = row[step.feature as usize] <= step.threshold;
        std::hint::select_unpredictable(go_left, position + 1, step.right)
    }
}

/// Index of the largest count; the lowest index wins a tie (smartcore's `which_max`).
pub(crate) fn winner(counts: &[u32]) -> usize {
    let mut best = 0;
    for (idx, &count) in counts.iter().enumerate().skip(1) {
        if count > counts[best] {
            best = idx;
        }
    }
    best
}

/// Checks that a tree is a proper tree over the forest's features and classes.
fn check_tree(
    tree_idx: usize,
    tree: &TreeSpec,
    n_features: usize,
    n_classes: usize,
) -> Result<(), ForestError> {
    let n_nodes = tree.nodes.len();
    if n_nodes == 0 {
        return Err(ForestError::EmptyTree { tree: tree_idx });
    }
    let mut n_parents = vec![0_u8; n_nodes];
    for (node_idx, node) in tree.nodes.iter().enumerate() {
        match *node {
            NodeSpec::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                for child in [left, right] {
                    if child <= node_idx || child >= n_nodes {
                        return Err(ForestError::ChildOutOfRange {
                            tree: tree_idx,
                            node: node_idx,
                            child,
                            n_nodes,
                        });
                    }
                    n_parents[child] = n_parents[child].saturating_add(1);
                }
                if feature >= n_features {
                    return Err(ForestError::FeatureOutOfRange {
                        tree: tree_idx,
                        node: node_idx,
                        feature,
                        n_features,
                    });
                }
                if !threshold.is_finite() {
                    return Err(ForestError::NonFiniteThreshold {
                        tree: tree_idx,
                        node: node_idx,
                    });
                }
            }
            NodeSpec::Leaf { class } => {
                if class >= n_classes {
                    return Err(ForestError::ClassOutOfRange {
                        tree: tree_idx,
                        node: node_idx,
                        class,
                        n_classes,
                    });
                }
            }
        }
    }
    // Children come after parents, so "every node but the root has exactly one parent" makes
    // the node list exactly one tree rooted at node 0.
    match n_parents
        .iter()
        .enumerate()
        .find(|&(node_idx, &count)| count != u8::from(node_idx != 0))
    {
        Some((node_idx, _)) => Err(ForestError::NotATree {
            tree: tree_idx,
            node: node_idx,
        }),
        None => Ok(()),
    }
}

/// Converts an index into the compact `u32` form; `compile` has checked that every index fits.
fn to_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(feature: usize, threshold: f64, left: usize, right: usize) -> NodeSpec {
        NodeSpec::Split {
            feature,
            threshold,
            left,
            right,
        }
    }

    fn leaf(class: usize) -> NodeSpec {
        NodeSpec::Leaf { class }
    }

    fn forest_of(trees: Vec<Vec<NodeSpec>>) -> ForestSpec {
        ForestSpec {
            n_features: 2,
            n_classes: 3,
            trees: trees.into_iter().map(|nodes| TreeSpec { nodes }).collect(),
        }
    }

    /// Compiles a one-tree forest and returns the error, if any.
    fn check(nodes: Vec<NodeSpec>) -> Result<(), ForestError> {
        CompiledForest::compile(&forest_of(vec![nodes])).map(|_| ())
    }

    #[test]
    fn a_proper_tree_compiles() {
        assert_eq!(check(vec![split(0, 0.5, 1, 2), leaf(0), leaf(2)]), Ok(()));
    }

    #[test]
    fn refuses_structural_corruption_naming_tree_and_node() {
        let cases = [
            (
                vec![split(0, 0.5, 1, 9), leaf(0), leaf(1)],
                ForestError::ChildOutOfRange {
                    tree: 0,
                    node: 0,
                    child: 9,
                    n_nodes: 3,
                },
            ),
            (
                // A child pointing back at its parent would loop forever.
                vec![split(0, 0.5, 1, 2), split(1, 0.5, 0, 2), leaf(1)],
                ForestError::ChildOutOfRange {
                    tree: 0,
                    node: 1,
                    child: 0,
                    n_nodes: 3,
                },
            ),
            (
                vec![split(0, 0.5, 1, 1), leaf(0)],
                ForestError::NotATree { tree: 0, node: 1 },
            ),
            (
                vec![split(0, 0.5, 1, 2), leaf(0), leaf(1), leaf(2)],
                ForestError::NotATree { tree: 0, node: 3 },
            ),
            (
                vec![split(2, 0.5, 1, 2), leaf(0), leaf(1)],
                ForestError::FeatureOutOfRange {
                    tree: 0,
                    node: 0,
                    feature: 2,
                    n_features: 2,
                },
            ),
            (
                vec![split(0, 0.5, 1, 2), leaf(0), leaf(3)],
                ForestError::ClassOutOfRange {
                    tree: 0,
                    node: 2,
                    class: 3,
                    n_classes: 3,
                },
            ),
            (
                vec![split(0, f64::INFINITY, 1, 2), leaf(0), leaf(1)],
                ForestError::NonFiniteThreshold { tree: 0, node: 0 },
            ),
            (vec![], ForestError::EmptyTree { tree: 0 }),
        ];
        for (nodes, expected) in cases {
            assert_eq!(check(nodes), Err(expected));
        }
        assert_eq!(
            CompiledForest::compile(&forest_of(vec![])).map(|_| ()),
            Err(ForestError::Empty)
        );
    }

    #[test]
    fn splits_send_equal_values_left_like_smartcore() {
        let forest = CompiledForest::compile(&forest_of(vec![vec![
            split(1, 0.5, 1, 2),
            leaf(0),
            leaf(2),
        ]]))
        .unwrap();
        assert_eq!(forest.votes(&[9.0, 0.5]).unwrap().winner, 0);
        assert_eq!(forest.votes(&[9.0, 0.500_000_1]).unwrap().winner, 2);
    }

    #[test]
    fn ties_go_to_the_lowest_class_index() {
        // Two trees: one votes class 2, one votes class 1.
        let forest =
            CompiledForest::compile(&forest_of(vec![vec![leaf(2)], vec![leaf(1)]])).unwrap();
        let votes = forest.votes(&[0.0, 0.0]).unwrap();
        assert_eq!(votes.counts, vec![0, 1, 1]);
        assert_eq!(votes.winner, 1);
    }

    #[test]
    fn rejects_bad_rows_naming_the_position() {
        let forest = CompiledForest::compile(&forest_of(vec![vec![leaf(0)]])).unwrap();
        assert_eq!(
            forest.votes(&[1.0]),
            Err(InputError::WrongFeatureCount {
                row: None,
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(
            forest.votes(&[1.0, f64::NAN]),
            Err(InputError::NonFinite {
                row: None,
                index: 1
            })
        );
        let batch = ndarray::array![[0.0, 1.0], [f64::NEG_INFINITY, 0.0]];
        assert_eq!(
            forest.votes_batch(batch.view(), 1),
            Err(InputError::NonFinite {
                row: Some(1),
                index: 0
            })
        );
        assert_eq!(
            forest.votes_batch(ndarray::Array2::zeros((0, 2)).view(), 1),
            Err(InputError::EmptyBatch)
        );
    }

    /// A forest of random deep trees, for checking the interleaved walks against a plain one.
    fn random_forest(n_trees: usize, seed: u64) -> ForestSpec {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let trees = (0..n_trees)
            .map(|_| {
                let mut nodes = vec![leaf(0)];
                // Grow by replacing random leaves with splits; children always come later.
                for _ in 0..40 {
                    let target = (next() as usize) % nodes.len();
                    if let NodeSpec::Leaf { .. } = nodes[target] {
                        let left = nodes.len();
                        nodes.push(leaf((next() % 3) as usize));
                        nodes.push(leaf((next() % 3) as usize));
                        let threshold = (next() % 1000) as f64 / 500.0 - 1.0;
                        nodes[target] = split((next() % 2) as usize, threshold, left, left + 1);
                    }
                }
                TreeSpec { nodes }
            })
            .collect();
        ForestSpec {
            n_features: 2,
            n_classes: 3,
            trees,
        }
    }

    /// The obvious walk, straight from the spec.
    fn reference_votes(spec: &ForestSpec, row: &[f64]) -> Vec<u32> {
        let mut counts = vec![0; spec.n_classes];
        for tree in &spec.trees {
            let mut node = 0;
            loop {
                match tree.nodes[node] {
                    NodeSpec::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        node = if row[feature] <= threshold {
                            left
                        } else {
                            right
                        };
                    }
                    NodeSpec::Leaf { class } => {
                        counts[class] += 1;
                        break;
                    }
                }
            }
        }
        counts
    }

    #[test]
    fn interleaved_walks_match_a_plain_walk() {
        let spec = random_forest(37, 11);
        let forest = CompiledForest::compile(&spec).unwrap();
        let rows: Vec<[f64; 2]> = (0..101)
            .map(|idx| [(idx as f64 * 0.37).sin(), (idx as f64 * 0.11).cos()])
            .collect();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let batch = ndarray::Array2::from_shape_vec((rows.len(), 2), flat).unwrap();
        let table = forest.votes_batch(batch.view(), 1).unwrap();
        for (row_idx, row) in rows.iter().enumerate() {
            let expected = reference_votes(&spec, row);
            assert_eq!(forest.votes(row).unwrap().counts, expected, "row {row_idx}");
            assert_eq!(
                &table[row_idx * 3..row_idx * 3 + 3],
                expected.as_slice(),
                "batch row {row_idx}"
            );
        }
        // A column-major view gives the same table.
        let transposed = batch.t().to_owned();
        assert_eq!(forest.votes_batch(transposed.t(), 1).unwrap(), table);
        // So does a batch split over threads.
        let big = ndarray::Array2::from_shape_fn((3000, 2), |(row, col)| {
            ((row * 7 + col * 3) as f64 * 0.13).sin()
        });
        let split_table = forest.votes_batch(big.view(), 3).unwrap();
        assert_eq!(split_table, forest.votes_batch(big.view(), 1).unwrap());
        for row_idx in [0, 1023, 1024, 2999] {
            let row = big.row(row_idx).to_vec();
            assert_eq!(
                &split_table[row_idx * 3..row_idx * 3 + 3],
                reference_votes(&spec, &row).as_slice()
            );
        }
    }
}
