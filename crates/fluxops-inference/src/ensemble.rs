//! The compiled ensemble: an [`EnsembleSpec`] checked and laid out for fast walks.

use ndarray::ArrayView2;

use crate::artifact::{
    Aggregation, Comparison, EnsembleSpec, NodeSpec, NumberType, PostTransform, TreeSpec,
    aggregate, class_index, transform,
};
use crate::error::{ArtifactError, EnsembleError, InputError, Limited};
use crate::limits::ModelLimits;

/// One step of the compiled layout: 16 bytes, four to a cache line.
///
/// Nodes are laid out in pre-order, so the left child of node `i` is always `i + 1` and only
/// the right child needs storing. Every split is compiled into "left when `value <= threshold`"
/// in `f64` (see [`compiled_threshold`]), so a step is one comparison whatever the split's kind.
/// A leaf is encoded as a node that loops on itself (`threshold = NaN`, so the comparison is
/// false, and `right = i`): a walk can then run a fixed number of steps with no branch on "is
/// this a leaf", which lets several walks run interleaved and keeps the hot loop free of
/// unpredictable branches.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Step {
    threshold: f64,
    feature: u32,
    right: u32,
}

/// Where a tree starts in the flat node array, how many steps reach any of its leaves, and its
/// index in the ensemble.
#[derive(Debug, Clone, Copy)]
struct TreeRoot {
    root: u32,
    depth: u32,
    tree: u32,
}

/// What the leaves hold, indexed by step position (entries for splits are unused).
#[derive(Debug, Clone)]
enum Leaves {
    /// Every leaf is one-hot (a 1 for one output, `+0.0` for the others), as in a voting forest:
    /// the position of the 1. Walks count votes in integers, the fastest way to add such leaves.
    OneHot { class_at: Vec<u32> },
    /// Any values, with scores in `f64`.
    InF64(LeafValues<f64>),
    /// Any values, with scores in `f32`: stored and added as `f32`.
    InF32(LeafValues<f32>),
}

/// Leaves holding any values, in the score type `S`.
#[derive(Debug, Clone)]
struct LeafValues<S> {
    /// The leaf's number; its values are `values[number * n_outputs..][..n_outputs]`.
    leaf_at: Vec<u32>,
    values: Vec<S>,
}

/// How many trees one row walks at once. Independent load chains hide the memory latency of a
/// walk, and ten positions, the row and the steps still fit in registers; 100 trees (the default
/// of scikit-learn and of `fluxops-train`) fill ten groups with no spare lane. On `rf_bench`,
/// interleaved divan runs: 8 lanes 0.96 µs a row, 10 lanes 0.88, 12 lanes 0.93, 16 lanes 1.02.
const TREE_LANES: usize = 10;

/// How many rows of a batch one tree walks at once, for the same reason.
const ROW_LANES: usize = 8;

/// The row data a batch block keeps in cache while every tree walks it: each tree is read once
/// per block, and stays in the L1 cache while it walks the block's rows.
const BLOCK_BYTES: usize = 16 * 1024;

/// The most rows in a block, however narrow they are.
const MAX_BLOCK_ROWS: usize = 256;

/// Up to this many features, a single row is walked from a copy indexed by a byte: the index
/// is then in range by its type, and the walk's steps need no bounds check on the row.
const NARROW_ROW: usize = 256;

/// Up to this many trees or outputs, a single row's working space (a leaf per tree, a sum or a
/// vote count per output) is an array on the stack instead of an allocation.
const STACK_SCRATCH: usize = 128;

/// Rows per thread below which a batch is not split: smaller ones finish before a thread would
/// start.
pub(crate) const PARALLEL_MIN_ROWS: usize = 1024;

/// An ensemble compiled into one flat, cache-friendly array.
///
/// Layout: one packed array of [`Step`]s for all trees (pre-order, left child implicit), a
/// parallel array of leaf contents read once per walk, and a root table. A single row walks the
/// trees in groups ordered by depth, so that interleaved walks do little wasted work. Scores are
/// the ensemble's output as [`EnsembleSpec`] defines it (aggregated, base values added,
/// transformed), with leaf values added in tree order and in its score type, so that they equal
/// [`EnsembleSpec::reference_scores`] to the last bit.
///
/// Only finite rows are walked: a compiled step cannot honour a split's missing-value side, so
/// [`CompiledEnsemble::check_row`] refuses NaN and infinities before any walk.
#[derive(Debug, Clone)]
pub(crate) struct CompiledEnsemble {
    steps: Vec<Step>,
    leaves: Leaves,
    /// In tree order.
    roots: Vec<TreeRoot>,
    /// Sorted by depth.
    roots_by_depth: Vec<TreeRoot>,
    n_features: usize,
    n_outputs: usize,
    aggregation: Aggregation,
    base_values: Vec<f64>,
    post_transform: PostTransform,
    score_type: NumberType,
}

impl CompiledEnsemble {
    /// Checks an ensemble against `limits` and its own rules, and compiles it.
    ///
    /// Fails, naming the tree and node, on an empty ensemble or tree, a child index that is out
    /// of range or not after its parent, a node reached twice or never, a feature index out of
    /// range, a non-finite threshold or one that is not an `f32` value for an `f32` split, a leaf
    /// of the wrong width or with a non-finite value, bad base values, leaf values whose sum can
    /// overflow, or a count beyond `limits`.
    pub(crate) fn compile(
        spec: &EnsembleSpec,
        limits: &ModelLimits,
    ) -> Result<Self, ArtifactError> {
        if spec.trees.is_empty() || spec.n_features == 0 || spec.n_outputs == 0 {
            return Err(EnsembleError::Empty.into());
        }
        let n_nodes: usize = spec.trees.iter().map(|tree| tree.nodes.len()).sum();
        let n_leaf_values: usize = leaves(spec).map(|(_, values)| values.len()).sum();
        for (what, found) in [
            (Limited::Trees, spec.trees.len()),
            (Limited::Nodes, n_nodes),
            (Limited::LeafValues, n_leaf_values),
            (Limited::Outputs, spec.n_outputs),
            (Limited::Features, spec.n_features),
        ] {
            limits.check(what, found)?;
        }
        if n_nodes >= u32::MAX as usize {
            return Err(EnsembleError::TooLarge { n_nodes }.into());
        }
        if spec.base_values.len() != spec.n_outputs
            || !spec.base_values.iter().all(|value| value.is_finite())
        {
            return Err(EnsembleError::BadBaseValues {
                n_outputs: spec.n_outputs,
            }
            .into());
        }
        if let Some(output) = spec
            .base_values
            .iter()
            .position(|&value| !spec.score_type.represents(value))
        {
            return Err(EnsembleError::NotAnF32BaseValue { output }.into());
        }
        if spec.post_transform == PostTransform::Softmax && spec.n_outputs < 2 {
            return Err(EnsembleError::SoftmaxOfOne.into());
        }
        for (tree_idx, tree) in spec.trees.iter().enumerate() {
            check_tree(tree_idx, tree, spec)?;
        }
        let one_hot = leaves(spec).all(|(_, values)| one_hot_class(values).is_some());
        if !one_hot {
            check_no_overflow(spec)?;
        }
        let mut ensemble = CompiledEnsemble {
            steps: Vec::with_capacity(n_nodes),
            leaves: match (one_hot, spec.score_type) {
                (true, _) => Leaves::OneHot {
                    class_at: Vec::with_capacity(n_nodes),
                },
                (false, NumberType::F64) => {
                    Leaves::InF64(LeafValues::with_capacity(n_nodes, n_leaf_values))
                }
                (false, NumberType::F32) => {
                    Leaves::InF32(LeafValues::with_capacity(n_nodes, n_leaf_values))
                }
            },
            roots: Vec::with_capacity(spec.trees.len()),
            roots_by_depth: Vec::new(),
            n_features: spec.n_features,
            n_outputs: spec.n_outputs,
            aggregation: spec.aggregation,
            base_values: spec.base_values.clone(),
            post_transform: spec.post_transform,
            score_type: spec.score_type,
        };
        for (tree_idx, tree) in spec.trees.iter().enumerate() {
            let root = ensemble.steps.len();
            let depth = ensemble.push_preorder(tree);
            limits.check(Limited::Depth, depth)?;
            ensemble.roots.push(TreeRoot {
                root: to_u32(root),
                depth: to_u32(depth),
                tree: to_u32(tree_idx),
            });
        }
        ensemble.roots_by_depth = ensemble.roots.clone();
        ensemble.roots_by_depth.sort_by_key(|tree| tree.depth);
        Ok(ensemble)
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
            match &tree.nodes[node_idx] {
                // The fields in the order the step and the stack use them.
                &NodeSpec::Split {
                    threshold,
                    comparison,
                    threshold_type,
                    feature,
                    right,
                    left,
                    ..
                } => {
                    self.steps.push(Step {
                        threshold: compiled_threshold(threshold, comparison, threshold_type),
                        feature: to_u32(feature),
                        right: u32::MAX,
                    });
                    match &mut self.leaves {
                        Leaves::OneHot { class_at } => class_at.push(u32::MAX),
                        Leaves::InF64(leaves) => leaves.leaf_at.push(u32::MAX),
                        Leaves::InF32(leaves) => leaves.leaf_at.push(u32::MAX),
                    }
                    // The right subtree is laid out after the whole left one: push it first.
                    stack.push((right, depth + 1, Some(position)));
                    stack.push((left, depth + 1, None));
                }
                NodeSpec::Leaf { values: leaf } => {
                    self.steps.push(Step {
                        threshold: f64::NAN,
                        feature: 0,
                        right: to_u32(position),
                    });
                    match &mut self.leaves {
                        Leaves::OneHot { class_at } => {
                            class_at.push(to_u32(one_hot_class(leaf).unwrap_or_default()));
                        }
                        Leaves::InF64(leaves) => leaves.push(leaf, self.n_outputs),
                        Leaves::InF32(leaves) => leaves.push(leaf, self.n_outputs),
                    }
                }
            }
        }
        debug_assert_eq!(self.steps.len() - offset, tree.nodes.len());
        max_depth
    }

    /// Number of features a row must have.
    pub(crate) fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of outputs.
    pub(crate) fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Checks one row: right length and every value finite.
    pub(crate) fn check_row(&self, row: &[f64], row_idx: Option<usize>) -> Result<(), InputError> {
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

    /// Writes the ensemble's scores for one row before the post-transform (leaves summed,
    /// aggregated, base values added) into `scores`, replacing what it held, after checking the
    /// row. `scores` is the only allocation: the caller chooses its capacity.
    pub(crate) fn untransformed_scores(
        &self,
        row: &[f64],
        scores: &mut Vec<f64>,
    ) -> Result<(), InputError> {
        self.check_row(row, None)?;
        scores.clear();
        match &self.leaves {
            Leaves::OneHot { class_at } => {
                let (mut on_stack, mut on_heap) = ([0_u32; STACK_SCRATCH], Vec::new());
                let votes = scratch(self.n_outputs, &mut on_stack, &mut on_heap);
                self.for_each_group_of_row(row, |_, positions| {
                    for &position in positions {
                        votes[class_at[position as usize] as usize] += 1;
                    }
                });
                scores.extend(votes.iter().map(|&count| f64::from(count)));
            }
            Leaves::InF64(leaves) => self.leaf_sums(leaves, row, scores),
            Leaves::InF32(leaves) => self.leaf_sums(leaves, row, scores),
        }
        self.aggregate(scores);
        Ok(())
    }

    /// Applies the post-transform to one row's scores.
    #[inline(always)]
    pub(crate) fn transform(&self, scores: &mut [f64]) {
        transform(scores, self.post_transform);
    }

    /// Appends one row's leaf values summed per output to `scores`, added in tree order
    /// (floating-point sums depend on their order) and in the score type `S`.
    fn leaf_sums<S: Score>(&self, leaves: &LeafValues<S>, row: &[f64], scores: &mut Vec<f64>) {
        let (mut on_stack, mut on_heap) = ([0_u32; STACK_SCRATCH], Vec::new());
        let leaf_of_tree = scratch(self.roots.len(), &mut on_stack, &mut on_heap);
        self.for_each_group_of_row(row, |group, positions| {
            for (tree, &position) in group.iter().zip(positions) {
                leaf_of_tree[tree.tree as usize] = leaves.leaf_at[position as usize];
            }
        });
        let (mut on_stack, mut on_heap) = ([S::NO_VALUE; STACK_SCRATCH], Vec::new());
        let sums = scratch(self.n_outputs, &mut on_stack, &mut on_heap);
        add_leaves(sums, &leaves.values, leaf_of_tree);
        scores.extend(sums.iter().map(|&sum| sum.into()));
    }

    /// Walks `row` down every tree, in groups of up to TREE_LANES trees of about the same depth,
    /// and calls `visit(group, final positions)` for each group.
    ///
    /// Lanes run over trees: the trees of a group walk the row at once, `depth` steps each (a
    /// leaf loops on itself), with no branch but the loop's. A row of up to NARROW_ROW features
    /// is walked from a copy that a feature's low byte indexes, which needs no bounds check.
    #[inline(always)]
    fn for_each_group_of_row(&self, row: &[f64], visit: impl FnMut(&[TreeRoot], &[u32])) {
        if row.len() <= NARROW_ROW {
            let mut narrow = [0.0; NARROW_ROW];
            narrow[..row.len()].copy_from_slice(row);
            // Exact: a checked feature index is below the row's length, so it fits in a byte.
            self.walk_row_groups(|feature| narrow[usize::from(feature as u8)], visit);
        } else {
            self.walk_row_groups(|feature| row[feature as usize], visit);
        }
    }

    /// The walk of [`CompiledEnsemble::for_each_group_of_row`], reading feature `f` of the row
    /// as `value_of(f)`.
    #[inline(always)]
    fn walk_row_groups(
        &self,
        value_of: impl Fn(u32) -> f64,
        mut visit: impl FnMut(&[TreeRoot], &[u32]),
    ) {
        for group in self.roots_by_depth.chunks(TREE_LANES) {
            let depth = group.last().map_or(0, |tree| tree.depth);
            // A short last group repeats its first tree in the spare lanes; their leaves are dropped.
            let mut positions = [group[0].root; TREE_LANES];
            for (position, tree) in positions.iter_mut().zip(group) {
                *position = tree.root;
            }
            for _ in 0..depth {
                for position in &mut positions {
                    *position = self.step(*position, &value_of);
                }
            }
            visit(group, &positions[..group.len()]);
        }
    }

    /// The ensemble's output for every row of a batch, after checking all of it, on up to
    /// `n_threads` threads (scoped; only batches of at least [`PARALLEL_MIN_ROWS`] rows per
    /// thread are split).
    ///
    /// Returns a `rows x n_outputs` table, row-major, and, when `classify` is set, the class
    /// each row's scores choose before the post-transform ([`class_index`]: a classifier with
    /// one output per class). Fails on the first bad row, naming it.
    pub(crate) fn scores_batch(
        &self,
        rows: ArrayView2<'_, f64>,
        n_threads: usize,
        classify: bool,
    ) -> Result<(Vec<f64>, Vec<usize>), InputError> {
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
        let flat = rows
            .as_slice()
            .expect("an array in standard layout is one contiguous slice");
        for (row_idx, row) in flat.chunks_exact(width).enumerate() {
            self.check_row(row, Some(row_idx))?;
        }
        let mut table = vec![0.0; rows.nrows() * self.n_outputs];
        let mut class_indices = vec![0; if classify { rows.nrows() } else { 0 }];
        let n_threads = n_threads.clamp(1, rows.nrows().div_ceil(PARALLEL_MIN_ROWS));
        if n_threads == 1 {
            self.fill_scores(flat, &mut table, &mut class_indices);
        } else {
            // Whole groups of ROW_LANES rows per thread, so every thread runs full interleaved walks.
            let rows_per_thread = rows.nrows().div_ceil(n_threads).next_multiple_of(ROW_LANES);
            let index_chunk = if classify {
                rows_per_thread
            } else {
                usize::MAX
            };
            std::thread::scope(|scope| {
                let mut index_chunks = class_indices.chunks_mut(index_chunk);
                for (row_chunk, table_chunk) in flat
                    .chunks(rows_per_thread * width)
                    .zip(table.chunks_mut(rows_per_thread * self.n_outputs))
                {
                    let indices = index_chunks.next().unwrap_or_default();
                    scope.spawn(move || self.fill_scores(row_chunk, table_chunk, indices));
                }
            });
        }
        Ok((table, class_indices))
    }

    /// Writes the scores of checked, row-major `rows` into `table` (`rows x n_outputs`, every
    /// entry overwritten), and each row's class into `class_indices` unless it is empty.
    fn fill_scores(&self, rows: &[f64], table: &mut [f64], class_indices: &mut [usize]) {
        let n_outputs = self.n_outputs;
        let block_rows = block_rows(self.n_features);
        match &self.leaves {
            Leaves::OneHot { class_at } => {
                let votes = Votes {
                    class_at,
                    counts: vec![0; block_rows * n_outputs],
                    n_outputs,
                };
                self.fill_blocks(rows, table, block_rows, votes);
            }
            Leaves::InF64(leaves) => {
                self.fill_blocks(
                    rows,
                    table,
                    block_rows,
                    Sums::new(leaves, block_rows, n_outputs),
                );
            }
            Leaves::InF32(leaves) => {
                self.fill_blocks(
                    rows,
                    table,
                    block_rows,
                    Sums::new(leaves, block_rows, n_outputs),
                );
            }
        }
        for (row_idx, row_scores) in table.chunks_exact_mut(n_outputs).enumerate() {
            self.aggregate(row_scores);
            if let Some(class) = class_indices.get_mut(row_idx) {
                *class = class_index(row_scores);
            }
            self.transform(row_scores);
        }
    }

    /// Walks every tree for blocks of `block_rows` rows, adding the leaves each row reaches
    /// through `leaves`, which writes the block's rows of `table` when the block is done.
    ///
    /// A block's rows are regrouped feature by feature in groups of ROW_LANES rows (a row's
    /// feature is then one fixed offset from its group's, whatever the lane), and each tree walks
    /// all of the block's groups, up to ROW_LANES rows at once, while it is hot in cache. Leaves
    /// are added tree after tree, in tree order. Each kind of leaves gets its own copy of the
    /// walk, compiled on its own.
    #[inline(never)]
    fn fill_blocks(
        &self,
        rows: &[f64],
        table: &mut [f64],
        block_rows: usize,
        mut leaves: impl BlockLeaves,
    ) {
        let width = self.n_features;
        let mut groups: Vec<[f64; ROW_LANES]> = Vec::with_capacity(block_rows / ROW_LANES * width);
        for (block, block_table) in rows
            .chunks(width * block_rows)
            .zip(table.chunks_mut(self.n_outputs * block_rows))
        {
            let n_rows = block.len() / width;
            regroup(block, width, &mut groups);
            for tree in &self.roots {
                for (group_idx, group) in groups.chunks_exact(width).enumerate() {
                    let positions = self.walk_group(tree, group);
                    let first_row = group_idx * ROW_LANES;
                    let n_lanes = (n_rows - first_row).min(ROW_LANES);
                    for (lane, &position) in positions[..n_lanes].iter().enumerate() {
                        leaves.add(first_row + lane, position);
                    }
                }
            }
            leaves.finish(block_table);
        }
    }

    /// Aggregation and base values, on one row's summed leaves.
    #[inline(always)]
    fn aggregate(&self, scores: &mut [f64]) {
        aggregate(
            scores,
            self.aggregation,
            self.roots.len(),
            &self.base_values,
            self.score_type,
        );
    }

    /// Walks the ROW_LANES rows of a regrouped `group` (`group[feature][lane]`) down `tree`,
    /// `depth` steps each, and returns where each row ends.
    ///
    /// The lane count is fixed so the inner loop unrolls and the positions stay in registers:
    /// independent load chains overlap instead of waiting on each other.
    #[inline(always)]
    fn walk_group(&self, tree: &TreeRoot, group: &[[f64; ROW_LANES]]) -> [u32; ROW_LANES] {
        let mut positions = [tree.root; ROW_LANES];
        for _ in 0..tree.depth {
            for (lane, position) in positions.iter_mut().enumerate() {
                *position = self.step(*position, |feature| group[feature as usize][lane]);
            }
        }
        positions
    }

    /// Takes one step of a walk: left child (next step) when `value_of(feature) <= threshold`.
    ///
    /// Which way a row goes is a coin toss the branch predictor loses half the time, so this asks
    /// for a conditional move rather than a branch: the step then costs the same every time and
    /// the interleaved walks overlap. A leaf's NaN threshold always goes "right", to itself.
    #[inline(always)]
    fn step(&self, position: u32, value_of: impl Fn(u32) -> f64) -> u32 {
        let step = self.steps[position as usize];
        let go_left = value_of(step.feature) <= step.threshold;
        std::hint::select_unpredictable(go_left, position + 1, step.right)
    }
}

/// `len` entries of working space filled with `on_stack`'s values: the front of `on_stack` when
/// it is long enough, else `on_heap`, filled with them.
fn scratch<'a, T: Copy>(
    len: usize,
    on_stack: &'a mut [T; STACK_SCRATCH],
    on_heap: &'a mut Vec<T>,
) -> &'a mut [T] {
    if len <= STACK_SCRATCH {
        &mut on_stack[..len]
    } else {
        on_heap.resize(len, on_stack[0]);
        on_heap
    }
}

/// How many rows a batch block holds for rows of `width` features: about BLOCK_BYTES of them,
/// in whole groups of ROW_LANES, at most MAX_BLOCK_ROWS.
fn block_rows(width: usize) -> usize {
    (BLOCK_BYTES / (width * size_of::<f64>())).clamp(ROW_LANES, MAX_BLOCK_ROWS) / ROW_LANES
        * ROW_LANES
}

/// Regroups a block of row-major rows of `width` features into `groups`: one
/// `[f64; ROW_LANES]` per feature for each group of ROW_LANES rows, so that `groups[group *
/// width + feature][lane]` is that feature of row `group * ROW_LANES + lane`. A short last group
/// repeats its first row in the spare lanes (finite values, whose leaves are dropped).
fn regroup(block: &[f64], width: usize, groups: &mut Vec<[f64; ROW_LANES]>) {
    groups.clear();
    for group_rows in block.chunks(width * ROW_LANES) {
        let start = groups.len();
        groups.resize(start + width, [0.0; ROW_LANES]);
        let group = &mut groups[start..];
        let n_rows = group_rows.len() / width;
        for lane in 0..ROW_LANES {
            let row_idx = if lane < n_rows { lane } else { 0 };
            let row = &group_rows[row_idx * width..][..width];
            for (by_lane, &value) in group.iter_mut().zip(row) {
                by_lane[lane] = value;
            }
        }
    }
}

/// A score type: leaf values are stored and added in it, so an `f32` ensemble adds in `f32`
/// (the sums [`EnsembleSpec::reference_scores`] makes by rounding each `f64` sum of two `f32`
/// values, as `f64` has more than twice the precision) and an `f64` one pays nothing for it.
trait Score: Copy + std::ops::Add<Output = Self> + Into<f64> {
    /// What a sum starts from: `-0.0`, which adds nothing, so unscored outputs stay `-0.0`.
    const NO_VALUE: Self;
    /// A checked leaf value (exactly representable in the score type).
    fn from_checked(value: f64) -> Self;
}

impl Score for f64 {
    const NO_VALUE: f64 = -0.0;
    fn from_checked(value: f64) -> f64 {
        value
    }
}

impl Score for f32 {
    const NO_VALUE: f32 = -0.0;
    fn from_checked(value: f64) -> f32 {
        // Exact: compile checked that every leaf value of an f32 ensemble is an f32 value.
        value as f32
    }
}

impl<S: Score> LeafValues<S> {
    fn with_capacity(n_nodes: usize, n_leaf_values: usize) -> Self {
        LeafValues {
            leaf_at: Vec::with_capacity(n_nodes),
            values: Vec::with_capacity(n_leaf_values),
        }
    }

    /// Appends a leaf of `n_outputs` checked values at the next step position.
    fn push(&mut self, leaf: &[f64], n_outputs: usize) {
        self.leaf_at.push(to_u32(self.values.len() / n_outputs));
        self.values
            .extend(leaf.iter().map(|&value| S::from_checked(value)));
    }
}

/// Adds the values of leaf number `leaf` to `scores` (`n_outputs` of them).
#[inline(always)]
fn add_leaf<S: Score>(scores: &mut [S], values: &[S], leaf: usize, n_outputs: usize) {
    let leaf_values = &values[leaf * n_outputs..][..n_outputs];
    for (score, value) in scores.iter_mut().zip(leaf_values) {
        *score = *score + *value;
    }
}

/// Adds the values of each leaf of `leaves`, in order, to `scores`. Kept out of line: inlined
/// twice (once per score type) into the single-row walk, it cost that walk instructions (callgrind).
///
/// One output (a regressor, a binary classifier's one score) has a loop of its own: one load and
/// one addition a leaf, the sum in a register. Going through [`add_leaf`] keeps the sum in memory,
/// a store and a load on this serial chain of additions: same instruction count, but 1.18 µs
/// against 0.92 µs a row on `rf_bench` (interleaved divan runs).
#[inline(never)]
fn add_leaves<S: Score>(scores: &mut [S], values: &[S], leaves: &[u32]) {
    if let [score] = scores {
        *score = leaves
            .iter()
            .fold(*score, |sum, &leaf| sum + values[leaf as usize]);
        return;
    }
    for &leaf in leaves {
        add_leaf(scores, values, leaf as usize, scores.len());
    }
}

/// How the leaves reached by the rows of a block are added up, and written into the block's rows
/// of the table when every tree has been walked.
trait BlockLeaves {
    /// Adds the leaf at `position` to row `row` of the block.
    fn add(&mut self, row: usize, position: u32);
    /// Writes the block's scores into `block_table` (`rows x n_outputs`, every entry) and starts
    /// the next block from nothing.
    fn finish(&mut self, block_table: &mut [f64]);
}

/// One-hot leaves: votes counted in integers, written out as scores when the block is done.
struct Votes<'a> {
    class_at: &'a [u32],
    counts: Vec<u32>,
    n_outputs: usize,
}

impl BlockLeaves for Votes<'_> {
    #[inline(always)]
    fn add(&mut self, row: usize, position: u32) {
        self.counts[row * self.n_outputs + self.class_at[position as usize] as usize] += 1;
    }

    fn finish(&mut self, block_table: &mut [f64]) {
        for (score, count) in block_table.iter_mut().zip(&mut self.counts) {
            *score = f64::from(std::mem::take(count));
        }
    }
}

/// Vector leaves: values added in the score type `S`, written out when the block is done.
struct Sums<'a, S> {
    leaves: &'a LeafValues<S>,
    sums: Vec<S>,
    n_outputs: usize,
}

impl<'a, S: Score> Sums<'a, S> {
    fn new(leaves: &'a LeafValues<S>, block_rows: usize, n_outputs: usize) -> Self {
        Sums {
            leaves,
            sums: vec![S::NO_VALUE; block_rows * n_outputs],
            n_outputs,
        }
    }
}

impl<S: Score> BlockLeaves for Sums<'_, S> {
    #[inline(always)]
    fn add(&mut self, row: usize, position: u32) {
        let leaf = self.leaves.leaf_at[position as usize] as usize;
        if self.n_outputs == 1 {
            // One value a leaf (regressors, binary classifiers): no slices, no loop.
            self.sums[row] = self.sums[row] + self.leaves.values[leaf];
            return;
        }
        let row_sums = &mut self.sums[row * self.n_outputs..][..self.n_outputs];
        add_leaf(row_sums, &self.leaves.values, leaf, self.n_outputs);
    }

    fn finish(&mut self, block_table: &mut [f64]) {
        for (score, sum) in block_table.iter_mut().zip(&mut self.sums) {
            *score = std::mem::replace(sum, S::NO_VALUE).into();
        }
    }
}

/// The `f64` threshold `t` such that `value <= t` sends a finite `value` exactly where the
/// split's own comparison does.
///
/// - `value <= threshold` in `f64`: `threshold` itself.
/// - `value < threshold` in `f64`: the next `f64` below `threshold`, as nothing lies between.
/// - `(value as f32) <= threshold` in `f32`: rounding to `f32` is monotonic, so the values that
///   pass are exactly those up to the largest `f64` that rounds to `threshold` or below
///   ([`largest_f64_rounding_at_or_below`]).
/// - `(value as f32) < threshold` in `f32`: the same, for the next `f32` below `threshold`.
fn compiled_threshold(threshold: f64, comparison: Comparison, threshold_type: NumberType) -> f64 {
    match (threshold_type, comparison) {
        (NumberType::F64, Comparison::LessOrEqual) => threshold,
        (NumberType::F64, Comparison::Less) => threshold.next_down(),
        (NumberType::F32, Comparison::LessOrEqual) => {
            largest_f64_rounding_at_or_below(threshold as f32)
        }
        (NumberType::F32, Comparison::Less) => {
            largest_f64_rounding_at_or_below((threshold as f32).next_down())
        }
    }
}

/// The largest `f64` whose rounding to `f32` (nearest, ties to even, as `as f32` rounds) is at or
/// below `bound` (a finite `f32`, or negative infinity).
///
/// The `f64` values that round to `bound` reach up to the midpoint between `bound` and the next
/// `f32` up; the midpoint itself rounds to whichever of the two has an even significand. The
/// midpoint needs one bit more than an `f32` has, so it is exact in `f64`. Above `f32::MAX` the
/// next value up is 2^128 (infinity), whose midpoint with `f32::MAX`, 2^128 - 2^103, already
/// rounds to infinity.
fn largest_f64_rounding_at_or_below(bound: f32) -> f64 {
    /// 2^128 - 2^103: where rounding to `f32` overflows to infinity.
    const OVERFLOW: f64 = 340_282_356_779_733_661_637_539_395_458_142_568_448.0;
    if bound == f32::NEG_INFINITY {
        return -OVERFLOW;
    }
    let next_up = if bound == f32::MAX {
        2.0 * OVERFLOW - f64::from(f32::MAX)
    } else {
        f64::from(bound.next_up())
    };
    let midpoint = (f64::from(bound) + next_up) / 2.0;
    if bound.to_bits() & 1 == 0 {
        midpoint
    } else {
        midpoint.next_down()
    }
}

/// Every leaf of an ensemble with its tree index.
fn leaves(spec: &EnsembleSpec) -> impl Iterator<Item = (usize, &[f64])> {
    spec.trees.iter().enumerate().flat_map(|(tree_idx, tree)| {
        tree.nodes.iter().filter_map(move |node| match node {
            NodeSpec::Leaf { values } => Some((tree_idx, values.as_slice())),
            NodeSpec::Split { .. } => None,
        })
    })
}

/// The class a one-hot leaf votes for: `Some` when exactly one value is 1 and the rest are
/// `+0.0` (a `-0.0` is "no value", which vote counts cannot say).
fn one_hot_class(values: &[f64]) -> Option<usize> {
    let class = values.iter().position(|&value| value == 1.0)?;
    let rest_zero = values
        .iter()
        .enumerate()
        .all(|(idx, &value)| idx == class || value.to_bits() == 0);
    rest_zero.then_some(class)
}

/// Checks that no row's summed leaves plus base value can reach infinity (which a post-transform
/// would turn into NaN): per output, the sum over trees of the largest magnitude a leaf holds.
/// In `f32`, where each step rounds, the bound must stay below half the largest `f32`.
fn check_no_overflow(spec: &EnsembleSpec) -> Result<(), EnsembleError> {
    let mut bound: Vec<f64> = spec.base_values.iter().map(|base| base.abs()).collect();
    let mut tree_max = vec![0.0_f64; spec.n_outputs];
    for tree in &spec.trees {
        tree_max.fill(0.0);
        for node in &tree.nodes {
            if let NodeSpec::Leaf { values } = node {
                for (max, value) in tree_max.iter_mut().zip(values) {
                    *max = max.max(value.abs());
                }
            }
        }
        for (total, max) in bound.iter_mut().zip(&tree_max) {
            *total += max;
        }
    }
    let largest = match spec.score_type {
        NumberType::F64 => f64::MAX,
        NumberType::F32 => f64::from(f32::MAX) / 2.0,
    };
    match bound.iter().position(|total| *total > largest) {
        Some(output) => Err(EnsembleError::ScoreOverflow { output }),
        None => Ok(()),
    }
}

/// Checks that a tree is a proper tree over the ensemble's features and outputs.
fn check_tree(tree_idx: usize, tree: &TreeSpec, spec: &EnsembleSpec) -> Result<(), EnsembleError> {
    let (n_features, n_outputs) = (spec.n_features, spec.n_outputs);
    let n_nodes = tree.nodes.len();
    if n_nodes == 0 {
        return Err(EnsembleError::EmptyTree { tree: tree_idx });
    }
    let mut n_parents = vec![0_u8; n_nodes];
    for (node_idx, node) in tree.nodes.iter().enumerate() {
        match node {
            &NodeSpec::Split {
                feature,
                threshold,
                left,
                right,
                threshold_type,
                ..
            } => {
                for child in [left, right] {
                    if child <= node_idx || child >= n_nodes {
                        return Err(EnsembleError::ChildOutOfRange {
                            tree: tree_idx,
                            node: node_idx,
                            child,
                            n_nodes,
                        });
                    }
                    n_parents[child] = n_parents[child].saturating_add(1);
                }
                if feature >= n_features {
                    return Err(EnsembleError::FeatureOutOfRange {
                        tree: tree_idx,
                        node: node_idx,
                        feature,
                        n_features,
                    });
                }
                if !threshold.is_finite() {
                    return Err(EnsembleError::NonFiniteThreshold {
                        tree: tree_idx,
                        node: node_idx,
                    });
                }
                if threshold_type == NumberType::F32 && f64::from(threshold as f32) != threshold {
                    return Err(EnsembleError::NotAnF32Threshold {
                        tree: tree_idx,
                        node: node_idx,
                        threshold,
                    });
                }
            }
            NodeSpec::Leaf { values } => {
                if values.len() != n_outputs {
                    return Err(EnsembleError::LeafWidth {
                        tree: tree_idx,
                        node: node_idx,
                        n_values: values.len(),
                        n_outputs,
                    });
                }
                if !values.iter().all(|value| value.is_finite()) {
                    return Err(EnsembleError::NonFiniteLeafValue {
                        tree: tree_idx,
                        node: node_idx,
                    });
                }
                if !values
                    .iter()
                    .all(|&value| spec.score_type.represents(value))
                {
                    return Err(EnsembleError::NotAnF32LeafValue {
                        tree: tree_idx,
                        node: node_idx,
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
        Some((node_idx, _)) => Err(EnsembleError::NotATree {
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
    use crate::artifact::Side;

    fn split(feature: usize, threshold: f64, left: usize, right: usize) -> NodeSpec {
        NodeSpec::split(feature, threshold, left, right)
    }

    fn leaf(class: usize) -> NodeSpec {
        NodeSpec::one_hot_leaf(class, 3).expect("test classes are below 3")
    }

    fn ensemble_of(trees: Vec<Vec<NodeSpec>>) -> EnsembleSpec {
        EnsembleSpec {
            n_features: 2,
            n_outputs: 3,
            aggregation: Aggregation::Average,
            base_values: vec![0.0; 3],
            post_transform: PostTransform::None,
            score_type: NumberType::F64,
            trees: trees.into_iter().map(|nodes| TreeSpec { nodes }).collect(),
        }
    }

    fn compile(spec: &EnsembleSpec) -> Result<CompiledEnsemble, ArtifactError> {
        CompiledEnsemble::compile(spec, &ModelLimits::default())
    }

    /// The ensemble's output for one row, transformed.
    fn scores(ensemble: &CompiledEnsemble, row: &[f64]) -> Result<Vec<f64>, InputError> {
        let mut scores = Vec::new();
        ensemble.untransformed_scores(row, &mut scores)?;
        ensemble.transform(&mut scores);
        Ok(scores)
    }

    /// Compiles a one-tree ensemble and returns the structural error, if any.
    fn check(nodes: Vec<NodeSpec>) -> Option<EnsembleError> {
        match compile(&ensemble_of(vec![nodes])) {
            Ok(_) => None,
            Err(ArtifactError::InvalidEnsemble(error)) => Some(error),
            Err(other) => panic!("not a structural error: {other}"),
        }
    }

    #[test]
    fn a_proper_tree_compiles() {
        assert_eq!(check(vec![split(0, 0.5, 1, 2), leaf(0), leaf(2)]), None);
    }

    #[test]
    fn refuses_structural_corruption_naming_tree_and_node() {
        let cases = [
            (
                vec![split(0, 0.5, 1, 9), leaf(0), leaf(1)],
                EnsembleError::ChildOutOfRange {
                    tree: 0,
                    node: 0,
                    child: 9,
                    n_nodes: 3,
                },
            ),
            (
                // A child pointing back at its parent would loop forever.
                vec![split(0, 0.5, 1, 2), split(1, 0.5, 0, 2), leaf(1)],
                EnsembleError::ChildOutOfRange {
                    tree: 0,
                    node: 1,
                    child: 0,
                    n_nodes: 3,
                },
            ),
            (
                vec![split(0, 0.5, 1, 1), leaf(0)],
                EnsembleError::NotATree { tree: 0, node: 1 },
            ),
            (
                vec![split(0, 0.5, 1, 2), leaf(0), leaf(1), leaf(2)],
                EnsembleError::NotATree { tree: 0, node: 3 },
            ),
            (
                vec![split(2, 0.5, 1, 2), leaf(0), leaf(1)],
                EnsembleError::FeatureOutOfRange {
                    tree: 0,
                    node: 0,
                    feature: 2,
                    n_features: 2,
                },
            ),
            (
                vec![split(0, 0.5, 1, 2), leaf(0), NodeSpec::leaf(vec![1.0])],
                EnsembleError::LeafWidth {
                    tree: 0,
                    node: 2,
                    n_values: 1,
                    n_outputs: 3,
                },
            ),
            (
                vec![NodeSpec::leaf(vec![0.0, f64::NAN, 1.0])],
                EnsembleError::NonFiniteLeafValue { tree: 0, node: 0 },
            ),
            (
                vec![split(0, f64::INFINITY, 1, 2), leaf(0), leaf(1)],
                EnsembleError::NonFiniteThreshold { tree: 0, node: 0 },
            ),
            (
                vec![
                    NodeSpec::Split {
                        feature: 0,
                        threshold: 0.1,
                        left: 1,
                        right: 2,
                        comparison: Comparison::LessOrEqual,
                        threshold_type: NumberType::F32,
                        missing_goes: Side::Right,
                    },
                    leaf(0),
                    leaf(1),
                ],
                EnsembleError::NotAnF32Threshold {
                    tree: 0,
                    node: 0,
                    threshold: 0.1,
                },
            ),
            (vec![], EnsembleError::EmptyTree { tree: 0 }),
        ];
        for (nodes, expected) in cases {
            assert_eq!(check(nodes), Some(expected));
        }
        assert!(matches!(
            compile(&ensemble_of(vec![])),
            Err(ArtifactError::InvalidEnsemble(EnsembleError::Empty))
        ));
    }

    #[test]
    fn refuses_bad_base_values_a_lone_softmax_and_overflowing_leaves() {
        let mut spec = ensemble_of(vec![vec![leaf(0)]]);
        spec.base_values = vec![0.0; 2];
        assert!(matches!(
            compile(&spec),
            Err(ArtifactError::InvalidEnsemble(
                EnsembleError::BadBaseValues { n_outputs: 3 }
            ))
        ));
        spec.base_values = vec![0.0, f64::NAN, 0.0];
        assert!(compile(&spec).is_err());

        let mut lone = ensemble_of(vec![vec![NodeSpec::leaf(vec![1.0])]]);
        lone.n_outputs = 1;
        lone.base_values = vec![0.0];
        lone.post_transform = PostTransform::Softmax;
        assert!(matches!(
            compile(&lone),
            Err(ArtifactError::InvalidEnsemble(EnsembleError::SoftmaxOfOne))
        ));

        let huge = || {
            vec![
                split(0, 0.0, 1, 2),
                NodeSpec::leaf(vec![0.0, 1e308, 0.0]),
                leaf(1),
            ]
        };
        let overflowing = ensemble_of(vec![huge(), huge()]);
        assert!(matches!(
            compile(&overflowing),
            Err(ArtifactError::InvalidEnsemble(
                EnsembleError::ScoreOverflow { output: 1 }
            ))
        ));
    }

    #[test]
    fn refuses_each_count_beyond_its_limit() {
        // Three trees of 3, 5 and 1 nodes; depths 1, 2 and 0.
        let spec = ensemble_of(vec![
            vec![split(0, 0.5, 1, 2), leaf(0), leaf(2)],
            vec![
                split(0, 0.5, 1, 2),
                leaf(0),
                split(1, 0.1, 3, 4),
                leaf(1),
                leaf(2),
            ],
            vec![leaf(1)],
        ]);
        let exactly = ModelLimits {
            max_trees: 3,
            max_nodes: 9,
            max_depth: 2,
            max_outputs: 3,
            max_features: 2,
            max_leaf_values: 18,
            ..ModelLimits::default()
        };
        assert!(CompiledEnsemble::compile(&spec, &exactly).is_ok());
        for (limits, what, found) in [
            (
                ModelLimits {
                    max_trees: 2,
                    ..exactly
                },
                Limited::Trees,
                3,
            ),
            (
                ModelLimits {
                    max_nodes: 8,
                    ..exactly
                },
                Limited::Nodes,
                9,
            ),
            (
                ModelLimits {
                    max_depth: 1,
                    ..exactly
                },
                Limited::Depth,
                2,
            ),
            (
                ModelLimits {
                    max_outputs: 2,
                    ..exactly
                },
                Limited::Outputs,
                3,
            ),
            (
                ModelLimits {
                    max_features: 1,
                    ..exactly
                },
                Limited::Features,
                2,
            ),
            (
                ModelLimits {
                    max_leaf_values: 17,
                    ..exactly
                },
                Limited::LeafValues,
                18,
            ),
        ] {
            match CompiledEnsemble::compile(&spec, &limits) {
                Err(ArtifactError::OverLimit(exceeded)) => {
                    assert_eq!((exceeded.what, exceeded.found), (what, found));
                }
                other => panic!("{what:?}: expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn splits_send_equal_values_left_like_smartcore() {
        let ensemble = compile(&ensemble_of(vec![vec![
            split(1, 0.5, 1, 2),
            leaf(0),
            leaf(2),
        ]]))
        .unwrap();
        assert_eq!(scores(&ensemble, &[9.0, 0.5]).unwrap(), vec![1.0, 0.0, 0.0]);
        assert_eq!(
            scores(&ensemble, &[9.0, 0.500_000_1]).unwrap(),
            vec![0.0, 0.0, 1.0]
        );
    }

    #[test]
    fn rejects_bad_rows_naming_the_position() {
        let ensemble = compile(&ensemble_of(vec![vec![leaf(0)]])).unwrap();
        assert_eq!(
            scores(&ensemble, &[1.0]),
            Err(InputError::WrongFeatureCount {
                row: None,
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(
            scores(&ensemble, &[1.0, f64::NAN]),
            Err(InputError::NonFinite {
                row: None,
                index: 1
            })
        );
        let batch = ndarray::array![[0.0, 1.0], [f64::NEG_INFINITY, 0.0]];
        assert_eq!(
            ensemble.scores_batch(batch.view(), 1, false),
            Err(InputError::NonFinite {
                row: Some(1),
                index: 0
            })
        );
        assert_eq!(
            ensemble.scores_batch(ndarray::Array2::zeros((0, 2)).view(), 1, false),
            Err(InputError::EmptyBatch)
        );
    }

    /// The `f32` values a test of the `f32` compilation goes through: zeros, the smallest and
    /// largest magnitudes, powers of two (where the spacing changes), and a spread of others.
    fn awkward_f32s() -> Vec<f32> {
        let mut values = vec![
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            f32::MIN_POSITIVE.next_down(),
            f32::from_bits(1),
            f32::MAX,
            f32::MAX.next_down(),
            1.0,
            1.0_f32.next_up(),
            1.0_f32.next_down(),
            0.1,
            0.5,
            16_777_216.0,
            16_777_217.0,
            3.402_823e38,
        ];
        let mut state = 0x2545_f491_u32;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let candidate = f32::from_bits(state);
            if candidate.is_finite() {
                values.push(candidate);
            }
        }
        let negated: Vec<f32> = values.iter().map(|value| -value).collect();
        values.extend(negated);
        values
    }

    #[test]
    fn f32_splits_compile_to_the_exact_f64_boundary() {
        for threshold in awkward_f32s() {
            for comparison in [Comparison::LessOrEqual, Comparison::Less] {
                let passes = |value: f64| match comparison {
                    Comparison::LessOrEqual => (value as f32) <= threshold,
                    Comparison::Less => (value as f32) < threshold,
                };
                let bound = compiled_threshold(f64::from(threshold), comparison, NumberType::F32);
                // Rounding is monotonic, so the boundary and the value just above it decide all.
                assert!(
                    passes(bound),
                    "{comparison:?} {threshold:e}: {bound:e} should pass"
                );
                let above = bound.next_up();
                if above.is_finite() {
                    assert!(
                        !passes(above),
                        "{comparison:?} {threshold:e}: {above:e} should not pass"
                    );
                }
            }
        }
    }

    #[test]
    fn f32_boundaries_fall_on_midpoints_as_ties_to_even_says() {
        // 1.0 has an even significand: the midpoint to the next f32 up rounds down to it.
        let midpoint_up = 1.0 + 2f64.powi(-24);
        assert_eq!(largest_f64_rounding_at_or_below(1.0), midpoint_up);
        assert_eq!(midpoint_up as f32, 1.0);
        // The next f32 up is odd: the midpoint above it rounds away, to the even one.
        let odd = 1.0_f32.next_up();
        let midpoint = f64::from(odd) + 2f64.powi(-24);
        assert_eq!(midpoint as f32, odd.next_up());
        assert_eq!(largest_f64_rounding_at_or_below(odd), midpoint.next_down());
        // f32::MAX is odd; past its midpoint with 2^128 everything rounds to infinity.
        let overflow = 2f64.powi(128) - 2f64.powi(103);
        assert_eq!(overflow as f32, f32::INFINITY);
        assert_eq!(overflow.next_down() as f32, f32::MAX);
        assert_eq!(
            largest_f64_rounding_at_or_below(f32::MAX),
            overflow.next_down()
        );
        // `< -f32::MAX` holds only for values that round to negative infinity.
        assert_eq!(
            largest_f64_rounding_at_or_below(f32::NEG_INFINITY),
            -overflow
        );
        assert_eq!(
            compiled_threshold(-f64::from(f32::MAX), Comparison::Less, NumberType::F32),
            -overflow
        );
        // Zero's neighbourhood: subnormals, and both zeros compare equal.
        let tiny = f64::from(f32::from_bits(1));
        assert_eq!(largest_f64_rounding_at_or_below(0.0), tiny / 2.0);
        assert_eq!(largest_f64_rounding_at_or_below(-0.0), tiny / 2.0);
        assert_eq!(
            largest_f64_rounding_at_or_below(-f32::from_bits(1)),
            (-tiny / 2.0).next_down()
        );
    }

    #[test]
    fn f64_less_than_compiles_to_the_next_value_down() {
        for threshold in [0.5, 0.0, -0.0, 1e-300, -f64::MAX, f64::MAX, 5e-324] {
            let bound = compiled_threshold(threshold, Comparison::Less, NumberType::F64);
            assert!(
                bound < threshold && bound.next_up() >= threshold,
                "{threshold:e}"
            );
        }
    }

    /// A deterministic stream of pseudo-random numbers.
    fn lcg(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        }
    }

    /// An ensemble of random deep trees with every kind of split, for checking the interleaved
    /// walks against the reference walk. `leaf_values` makes a leaf from the stream.
    fn random_ensemble(
        n_trees: usize,
        seed: u64,
        leaf_values: &dyn Fn(&mut dyn FnMut() -> u64) -> Vec<f64>,
    ) -> EnsembleSpec {
        let mut next = lcg(seed);
        let trees = (0..n_trees)
            .map(|_| {
                let mut nodes = vec![NodeSpec::leaf(leaf_values(&mut next))];
                // Grow by replacing random leaves with splits; children always come later.
                for _ in 0..40 {
                    let target = (next() as usize) % nodes.len();
                    if let NodeSpec::Leaf { .. } = nodes[target] {
                        let left = nodes.len();
                        nodes.push(NodeSpec::leaf(leaf_values(&mut next)));
                        nodes.push(NodeSpec::leaf(leaf_values(&mut next)));
                        let threshold = f64::from(((next() % 1000) as f32) / 500.0 - 1.0);
                        nodes[target] = NodeSpec::Split {
                            feature: (next() % 2) as usize,
                            threshold,
                            left,
                            right: left + 1,
                            comparison: if next().is_multiple_of(2) {
                                Comparison::LessOrEqual
                            } else {
                                Comparison::Less
                            },
                            threshold_type: if next().is_multiple_of(2) {
                                NumberType::F64
                            } else {
                                NumberType::F32
                            },
                            missing_goes: Side::Right,
                        };
                    }
                }
                nodes
            })
            .collect();
        ensemble_of(trees)
    }

    /// Rows spread over the thresholds' range, plus rows sitting on and next to thresholds.
    fn probing_rows(spec: &EnsembleSpec) -> Vec<[f64; 2]> {
        let mut rows: Vec<[f64; 2]> = (0..101)
            .map(|idx| [(idx as f64 * 0.37).sin(), (idx as f64 * 0.11).cos()])
            .collect();
        for node in spec.trees.iter().flat_map(|tree| &tree.nodes) {
            if let &NodeSpec::Split { threshold, .. } = node {
                let f32_edge = largest_f64_rounding_at_or_below(threshold as f32);
                for value in [
                    threshold,
                    threshold.next_up(),
                    threshold.next_down(),
                    f32_edge,
                    f32_edge.next_up(),
                ] {
                    rows.push([value, value]);
                }
            }
        }
        rows
    }

    /// The bits of each value: `-0.0` and `+0.0` differ, as the class choice sees them.
    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|value| value.to_bits()).collect()
    }

    fn check_against_reference(spec: &EnsembleSpec) {
        let ensemble = compile(spec).unwrap();
        let rows = probing_rows(spec);
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let batch = ndarray::Array2::from_shape_vec((rows.len(), 2), flat).unwrap();
        // One output (a binary score) has no per-class index: the predictor derives its class.
        let per_class = spec.n_outputs > 1;
        let n = spec.n_outputs;
        let (table, classes) = ensemble.scores_batch(batch.view(), 1, per_class).unwrap();
        for (row_idx, row) in rows.iter().enumerate() {
            let expected = spec.reference_scores(row).unwrap();
            assert_eq!(
                bits(&scores(&ensemble, row).unwrap()),
                bits(&expected),
                "row {row_idx}: {row:?}"
            );
            assert_eq!(
                bits(&table[row_idx * n..][..n]),
                bits(&expected),
                "batch row {row_idx}"
            );
            if per_class {
                assert_eq!(
                    Some(classes[row_idx]),
                    spec.reference_class_index(row),
                    "class of row {row_idx}"
                );
            }
        }
        // A column-major view gives the same table.
        let transposed = batch.t().to_owned();
        assert_eq!(
            bits(&ensemble.scores_batch(transposed.t(), 1, false).unwrap().0),
            bits(&table)
        );
        // So does a batch split over threads, classes included; its blocks end in a short
        // group of rows.
        let big = ndarray::Array2::from_shape_fn((3003, 2), |(row, col)| {
            ((row * 7 + col * 3) as f64 * 0.13).sin()
        });
        let (split_table, split_classes) = ensemble.scores_batch(big.view(), 3, per_class).unwrap();
        let (one_table, one_classes) = ensemble.scores_batch(big.view(), 1, per_class).unwrap();
        assert_eq!(bits(&split_table), bits(&one_table));
        assert_eq!(split_classes, one_classes);
        for row_idx in [0, 1023, 1024, 3002] {
            let row = big.row(row_idx).to_vec();
            assert_eq!(
                bits(&split_table[row_idx * n..][..n]),
                bits(&spec.reference_scores(&row).unwrap())
            );
            if per_class {
                assert_eq!(
                    Some(split_classes[row_idx]),
                    spec.reference_class_index(&row)
                );
            }
        }
    }

    #[test]
    fn interleaved_walks_of_voting_trees_match_the_reference_walk() {
        let spec = random_ensemble(37, 11, &|next| {
            let mut values = vec![0.0; 3];
            values[(next() % 3) as usize] = 1.0;
            values
        });
        let ensemble = compile(&spec).unwrap();
        assert!(matches!(ensemble.leaves, Leaves::OneHot { .. }));
        check_against_reference(&spec);
    }

    #[test]
    fn interleaved_walks_of_weighted_trees_match_the_reference_walk() {
        let weights = |next: &mut dyn FnMut() -> u64| {
            (0..3)
                .map(|_| (next() % 200) as f64 / 100.0 - 1.0)
                .collect()
        };
        for (aggregation, post_transform) in [
            (Aggregation::Average, PostTransform::None),
            (Aggregation::Sum, PostTransform::Logistic),
            (Aggregation::Sum, PostTransform::Softmax),
        ] {
            let mut spec = random_ensemble(21, 5, &weights);
            spec.aggregation = aggregation;
            spec.post_transform = post_transform;
            spec.base_values = vec![0.25, -0.5, 0.0];
            let ensemble = compile(&spec).unwrap();
            assert!(matches!(ensemble.leaves, Leaves::InF64(_)));
            check_against_reference(&spec);
        }
    }

    #[test]
    fn f32_scores_and_unscored_outputs_match_the_reference_walk() {
        // f32 weights, and one leaf value in five "no value" (-0.0), as an importer writes
        // classes an ONNX leaf does not score.
        let weights = |next: &mut dyn FnMut() -> u64| {
            (0..3)
                .map(|_| match next() % 5 {
                    0 => -0.0,
                    _ => f64::from((next() % 2000) as f32 / 1000.0 - 1.0),
                })
                .collect()
        };
        for (score_type, aggregation, post_transform) in [
            (NumberType::F32, Aggregation::Average, PostTransform::None),
            (NumberType::F32, Aggregation::Sum, PostTransform::Logistic),
            (NumberType::F32, Aggregation::Sum, PostTransform::Softmax),
            (NumberType::F64, Aggregation::Sum, PostTransform::Logistic),
        ] {
            let mut spec = random_ensemble(23, 9, &weights);
            spec.score_type = score_type;
            spec.aggregation = aggregation;
            spec.post_transform = post_transform;
            spec.base_values = vec![-0.0; 3];
            check_against_reference(&spec);
            spec.base_values = vec![0.125, -0.0, 0.0];
            check_against_reference(&spec);
        }
    }

    #[test]
    fn one_output_sums_match_the_reference_walk() {
        // A binary classifier's one score or a regressor's value, in both score types: the
        // walks add one value a leaf on paths of their own.
        let value =
            |next: &mut dyn FnMut() -> u64| vec![f64::from((next() % 2000) as f32 / 1000.0 - 1.0)];
        for (score_type, aggregation, post_transform) in [
            (NumberType::F32, Aggregation::Average, PostTransform::None),
            (NumberType::F32, Aggregation::Sum, PostTransform::Logistic),
            (NumberType::F64, Aggregation::Sum, PostTransform::None),
        ] {
            let mut spec = random_ensemble(23, 13, &value);
            spec.n_outputs = 1;
            spec.base_values = vec![0.5];
            spec.score_type = score_type;
            spec.aggregation = aggregation;
            spec.post_transform = post_transform;
            check_against_reference(&spec);
        }
    }

    #[test]
    fn more_trees_or_outputs_than_the_stack_holds_match_the_reference_walk() {
        // A single row's working space (a leaf per tree, a sum or a count per output) is on the
        // stack up to STACK_SCRATCH entries and on the heap beyond: both sides of the line.
        for n in [STACK_SCRATCH, STACK_SCRATCH + 1] {
            let weights = move |next: &mut dyn FnMut() -> u64| {
                (0..n)
                    .map(|_| f64::from((next() % 2000) as f32 / 1000.0 - 1.0))
                    .collect()
            };
            let votes = move |next: &mut dyn FnMut() -> u64| {
                let mut values = vec![0.0; n];
                values[next() as usize % n] = 1.0;
                values
            };
            let one_value =
                |next: &mut dyn FnMut() -> u64| vec![f64::from((next() % 2000) as f32 / 1000.0)];
            for (n_trees, n_outputs, leaf_values) in [
                (
                    3,
                    n,
                    &weights as &dyn Fn(&mut dyn FnMut() -> u64) -> Vec<f64>,
                ),
                (3, n, &votes),
                (n, 1, &one_value),
                (n, 3, &|next: &mut dyn FnMut() -> u64| {
                    let mut values = vec![0.0; 3];
                    values[(next() % 3) as usize] = 1.0;
                    values
                }),
            ] {
                let mut spec = random_ensemble(n_trees, 17, leaf_values);
                spec.n_outputs = n_outputs;
                spec.base_values = vec![0.0; n_outputs];
                spec.score_type = NumberType::F32;
                check_against_reference(&spec);
            }
        }
    }

    #[test]
    fn rows_wider_than_a_byte_indexes_match_the_reference_walk() {
        // A single row of up to NARROW_ROW features is read by a feature's low byte; a wider one
        // is read from the slice. Trees split on the last features, where a byte would wrap.
        for n_features in [NARROW_ROW, NARROW_ROW + 1, NARROW_ROW + 2] {
            let mut spec = ensemble_of(
                (1..=3)
                    .map(|from_end| {
                        vec![
                            NodeSpec::split(n_features - from_end, 0.5, 1, 2),
                            NodeSpec::leaf(vec![1.0, 0.0, 0.0]),
                            NodeSpec::split(0, 0.5, 3, 4),
                            NodeSpec::leaf(vec![0.0, 1.0, 0.0]),
                            NodeSpec::leaf(vec![0.0, 0.0, 1.0]),
                        ]
                    })
                    .collect(),
            );
            spec.n_features = n_features;
            let ensemble = compile(&spec).unwrap();
            for (wide, narrow) in [(0.0, 1.0), (1.0, 0.0)] {
                // Features past a byte's range differ from those a wrapped byte would read.
                let row: Vec<f64> = (0..n_features)
                    .map(|feature| if feature < NARROW_ROW { narrow } else { wide })
                    .collect();
                assert_eq!(
                    bits(&scores(&ensemble, &row).unwrap()),
                    bits(&spec.reference_scores(&row).unwrap()),
                    "{n_features} features, {wide} past the first {NARROW_ROW}"
                );
            }
        }
    }

    #[test]
    fn f32_scores_round_every_step_and_need_f32_values() {
        // Ten trees of one leaf each: 0.1f32 added ten times in f32 is not 1.
        let tenth = f64::from(0.1_f32);
        let mut spec = EnsembleSpec {
            n_features: 1,
            n_outputs: 1,
            aggregation: Aggregation::Sum,
            base_values: vec![0.0],
            post_transform: PostTransform::None,
            score_type: NumberType::F32,
            trees: vec![
                TreeSpec {
                    nodes: vec![NodeSpec::leaf(vec![tenth])],
                };
                10
            ],
        };
        let f32_sum = (0..10).fold(0.0_f32, |sum, _| sum + 0.1_f32);
        let ensemble = compile(&spec).unwrap();
        assert_eq!(scores(&ensemble, &[0.0]).unwrap(), [f64::from(f32_sum)]);
        assert_ne!(f64::from(f32_sum), (0..10).fold(0.0, |sum, _| sum + tenth));

        spec.trees[3].nodes[0] = NodeSpec::leaf(vec![0.1]);
        assert!(matches!(
            compile(&spec),
            Err(ArtifactError::InvalidEnsemble(
                EnsembleError::NotAnF32LeafValue { tree: 3, node: 0 }
            ))
        ));
        spec.trees[3].nodes[0] = NodeSpec::leaf(vec![tenth]);
        spec.base_values = vec![0.1];
        assert!(matches!(
            compile(&spec),
            Err(ArtifactError::InvalidEnsemble(
                EnsembleError::NotAnF32BaseValue { output: 0 }
            ))
        ));
        spec.base_values = vec![0.0];
        spec.trees[0].nodes[0] = NodeSpec::leaf(vec![f64::from(f32::MAX)]);
        assert!(matches!(
            compile(&spec),
            Err(ArtifactError::InvalidEnsemble(
                EnsembleError::ScoreOverflow { output: 0 }
            ))
        ));
    }

    #[test]
    fn leaves_with_no_value_are_not_counted_as_votes() {
        let mut spec = ensemble_of(vec![vec![
            split(0, 0.5, 1, 2),
            NodeSpec::leaf(vec![1.0, -0.0, 0.0]),
            leaf(2),
        ]]);
        let ensemble = compile(&spec).unwrap();
        assert!(matches!(ensemble.leaves, Leaves::InF64(_)));
        spec.base_values = vec![-0.0; 3];
        let ensemble = compile(&spec).unwrap();
        assert_eq!(
            bits(&scores(&ensemble, &[0.0, 0.0]).unwrap()),
            bits(&[1.0, -0.0, 0.0])
        );
    }
}
