#!/usr/bin/env python3
"""Write the ONNX tree-ensemble fixtures that `fluxops-onnx` is tested against.

Each fixture is a small model trained here with a fixed seed and exported by the library a data
scientist would use (skl2onnx for scikit-learn, onnxmltools for LightGBM), plus a few models built
with `onnx.helper` for the forms those exporters do not emit (double attributes, the ml-opset-5
`TreeEnsemble` operator, and the operator corners the exporters rarely reach). For every model the
script records held-out rows, rows placed exactly on and around split thresholds, and what
onnxruntime answers on them, so the Rust tests compare against onnxruntime itself.

Run from the repository root with the test tools' interpreter:

    .tools/venv/bin/python scripts/make-onnx-fixtures.py [--out crates/fluxops-onnx/tests/fixtures]

Running it again writes identical files: every random source is seeded and onnxruntime runs on one
thread, so its float sums are added in tree order.

`rf_bench` is the benchmarks' model: a 100-tree scikit-learn forest of depth 10 on the reference
data set's recipe (10 standard-normal features, label = feature_0 + feature_1 > 0), the size of the
model `fluxops-train` makes by default.

`refused/` holds models the importer must refuse, each named in `manifest.json` with a part of the
refusal's message: what exporters produce that a tree ensemble alone cannot reproduce.

Files per fixture NAME: `NAME.onnx` and `NAME.json` with
  "inputs":        rows of numbers (null stands for NaN), in float64; onnxruntime was given them
                   converted to the model's input type, as a client would convert them,
  "labels":        onnxruntime's label per row (classifiers),
  "probabilities": onnxruntime's score columns per row, in class order (classifiers),
  "values":        onnxruntime's outputs per row (regressors).
`manifest.json` lists the fixtures and the library versions that made them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import warnings
from pathlib import Path

import lightgbm
import numpy as np
import onnx
import onnxmltools
import onnxruntime
import skl2onnx
import sklearn
from onnx import TensorProto, helper, numpy_helper
from onnxmltools.convert.common.data_types import FloatTensorType as MlFloatTensorType
from skl2onnx.common.tree_ensemble import (
    add_tree_to_attribute_pairs,
    get_default_tree_classifier_attribute_pairs,
)
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20261203
N_FEATURES = 6
N_HELD_OUT = 40
# Held-out rows whose features are moved onto and around split thresholds.
N_BOUNDARY_SPLITS = 10
ML = "ai.onnx.ml"
# onnxruntime 1.31 reads IR version 13 at most; onnx 1.23 writes 14 by default.
IR_VERSION = 8

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("crates/fluxops-onnx/tests/fixtures"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    data = Data()
    fixtures = [
        *sklearn_forests(data),
        *sklearn_boosting(data),
        *lightgbm_models(data),
        *handmade_models(),
        bench_fixture(),
    ]
    manifest = {
        "generator": "scripts/make-onnx-fixtures.py",
        "versions": versions(),
        "fixtures": [],
        "refused": [],
    }
    for fixture in fixtures:
        fixture.write(out)
        manifest["fixtures"].append(fixture.summary())
        print(f"{fixture.name}: {fixture.summary()['rows']} rows, {fixture.size(out)} bytes")
    (out / "refused").mkdir(exist_ok=True)
    for name, description, model, message in refused_models(data):
        (out / "refused" / f"{name}.onnx").write_bytes(model.SerializeToString())
        manifest["refused"].append({"name": name, "description": description, "message": message})
        print(f"refused/{name}: {(out / 'refused' / f'{name}.onnx').stat().st_size} bytes")
    write_json(out / "manifest.json", manifest)


def versions() -> dict:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnxmltools": onnxmltools.__version__,
        "lightgbm": lightgbm.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


class Data:
    """One seeded classification set and one regression set, split into training and held-out rows."""

    def __init__(self) -> None:
        x, y = make_classification(
            n_samples=600,
            n_features=N_FEATURES,
            n_informative=4,
            n_redundant=1,
            n_classes=3,
            n_clusters_per_class=1,
            random_state=SEED,
        )
        self.x_train, self.x_held = x[:-N_HELD_OUT], x[-N_HELD_OUT:]
        self.y3_train = y[:-N_HELD_OUT]
        self.y2_train = (self.y3_train == 1).astype(np.int64)
        # Labels that are not their own indices, so a mix-up of index and label shows.
        self.y3_ints_train = np.array([-3, 5, 12])[self.y3_train]
        self.y3_strings_train = np.array(["setosa", "versicolor", "virginica"])[self.y3_train]
        xr, yr = make_regression(
            n_samples=600, n_features=N_FEATURES, n_informative=5, noise=5.0, random_state=SEED
        )
        self.xr_train, self.xr_held = xr[:-N_HELD_OUT], xr[-N_HELD_OUT:]
        self.yr_train = yr[:-N_HELD_OUT]


class Fixture:
    """A model, the rows it is checked on and onnxruntime's answers on them."""

    def __init__(self, name, description, model, rows, library, reference=None):
        self.name = name
        self.description = description
        self.model = model
        self.rows = np.asarray(rows, dtype=np.float64)
        self.library = library
        self.outputs = run_onnxruntime(model, self.rows)
        if reference is not None:
            check_library_agreement(name, self.outputs, reference)

    def write(self, out: Path) -> None:
        (out / f"{self.name}.onnx").write_bytes(self.model.SerializeToString())
        record = {"model": f"{self.name}.onnx", "inputs": [json_row(r) for r in self.rows]}
        record.update(self.outputs)
        write_json(out / f"{self.name}.json", record)

    def size(self, out: Path) -> int:
        return sum((out / f"{self.name}.{ext}").stat().st_size for ext in ("onnx", "json"))

    def summary(self) -> dict:
        tree_node = next(n for n in self.model.graph.node if n.domain == ML and "Tree" in n.op_type)
        return {
            "name": self.name,
            "description": self.description,
            "library": self.library,
            "producer": f"{self.model.producer_name} {self.model.producer_version}".strip(),
            "operator": tree_node.op_type,
            "ml_opset": next(o.version for o in self.model.opset_import if o.domain == ML),
            "rows": len(self.rows),
        }


def run_onnxruntime(model, rows) -> dict:
    """onnxruntime's outputs, with one thread so that float sums follow tree order."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feed = session.get_inputs()[0]
    dtype = np.float64 if feed.type == "tensor(double)" else np.float32
    results = session.run(None, {feed.name: rows.astype(dtype)})
    names = [o.name for o in session.get_outputs()]
    if len(results) == 1:
        return {"values": [[float(v) for v in row] for row in results[0]]}
    label_index = next(i for i, n in enumerate(names) if "label" in n)
    labels, scores = results[label_index], results[1 - label_index]
    if isinstance(scores, list):  # ZipMap: one {label: probability} per row
        keys = list(scores[0].keys())
        scores = [[row[k] for k in keys] for row in scores]
    return {
        "labels": [v.item() if hasattr(v, "item") else v for v in np.ravel(labels)],
        "probabilities": [[float(v) for v in row] for row in scores],
    }


def check_library_agreement(name, outputs, reference) -> None:
    """The exported model must agree with the library that trained it on the held-out rows."""
    expected_labels, expected_scores = reference
    if "labels" in outputs:
        got = outputs["labels"][: len(expected_labels)]
        mismatched = [i for i, (a, b) in enumerate(zip(got, expected_labels)) if a != b]
        if mismatched:
            sys.exit(f"{name}: onnxruntime labels differ from the library's on rows {mismatched}")
        got_scores = np.array(outputs["probabilities"][: len(expected_scores)])
    else:
        got_scores = np.array(outputs["values"][: len(expected_scores)])
    worst = float(np.max(np.abs(got_scores - np.asarray(expected_scores).reshape(got_scores.shape))))
    if worst > 1e-4:
        sys.exit(f"{name}: onnxruntime scores differ from the library's by {worst}")


def boundary_rows(model, base_rows, double: bool) -> list:
    """Rows with one feature set exactly on a split threshold, one step either side, and (for
    float models) on the float64 values that round to the threshold or to its neighbours."""
    node = next(n for n in model.graph.node if n.domain == ML and "Tree" in n.op_type)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if "nodes_values_as_tensor" in attrs:
        values = numpy_helper.to_array(attrs["nodes_values_as_tensor"]).tolist()
    else:
        values = list(attrs["nodes_values"])
    modes = attrs["nodes_modes"]
    splits = [
        (attrs["nodes_featureids"][i], values[i]) for i, m in enumerate(modes) if m != b"LEAF"
    ]
    step = max(1, len(splits) // N_BOUNDARY_SPLITS)
    rows = []
    for k, (feature, threshold) in enumerate(splits[::step][:N_BOUNDARY_SPLITS]):
        base = np.array(base_rows[k % len(base_rows)], dtype=np.float64)
        for value in around(threshold, double):
            row = base.copy()
            row[feature] = value
            rows.append(row)
    return rows


def around(threshold: float, double: bool) -> list:
    if double:
        t = np.float64(threshold)
        return [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)]
    t = np.float32(threshold)
    up, down = np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf))
    t64, up64, down64 = np.float64(t), np.float64(up), np.float64(down)
    half_up, half_down = (up64 - t64) / 2, (t64 - down64) / 2
    return [
        t64,
        up64,
        down64,
        t64 + half_up / 2,  # rounds to the threshold
        t64 + half_up,  # halfway: rounds to the even neighbour
        t64 + 1.5 * half_up,  # rounds up
        t64 - half_down / 2,
        t64 - 1.5 * half_down,
    ]


def sklearn_forests(data: Data) -> list:
    fixtures = []
    held = data.x_held
    for short, cls in (("rf", RandomForestClassifier), ("et", ExtraTreesClassifier)):
        for kind, y, zipmap in (
            ("binary", data.y2_train, True),
            ("multiclass", data.y3_ints_train, False),
            ("strings", data.y3_strings_train, False),
        ):
            model = cls(n_estimators=8, max_depth=5, random_state=SEED, n_jobs=1)
            model.fit(data.x_train, y)
            onx = export_sklearn(model, held, zipmap)
            rows = [*held, *boundary_rows(onx, held, double=False)]
            fixtures.append(
                Fixture(
                    f"{short}_{kind}",
                    f"{cls.__name__}, {kind} labels, skl2onnx"
                    + (" with ZipMap" if zipmap else " without ZipMap"),
                    onx,
                    rows,
                    "scikit-learn",
                    sklearn_reference(model, held),
                )
            )
            if short == "rf" and kind == "multiclass":
                fixtures.append(double_attributes_fixture(model, held))
                fixtures.append(double_input_fixture(model, held))

    model = RandomForestClassifier(
        n_estimators=6, max_leaf_nodes=12, random_state=SEED, n_jobs=1
    ).fit(data.x_train, data.y3_train)
    onx = export_sklearn(model, held, zipmap=False)
    assert_not_preorder(onx)
    fixtures.append(
        Fixture(
            "rf_max_leaf_nodes",
            "RandomForestClassifier grown best-first (max_leaf_nodes): node ids are not in pre-order",
            onx,
            [*held, *boundary_rows(onx, held, double=False)],
            "scikit-learn",
            sklearn_reference(model, held),
        )
    )

    model = RandomForestRegressor(n_estimators=8, max_depth=5, random_state=SEED, n_jobs=1)
    model.fit(data.xr_train, data.yr_train)
    onx = export_sklearn(model, data.xr_held)
    fixtures.append(
        Fixture(
            "rf_regressor",
            "RandomForestRegressor, skl2onnx",
            onx,
            [*data.xr_held, *boundary_rows(onx, data.xr_held, double=False)],
            "scikit-learn",
            (None, model.predict(data.xr_held.astype(np.float32))),
        )
    )
    fixtures.append(tree_ensemble_v5_fixture(onx, data.xr_held))
    return fixtures


def sklearn_boosting(data: Data) -> list:
    fixtures = []
    held = data.x_held
    for kind, y in (("binary", data.y2_train), ("multiclass", data.y3_ints_train)):
        model = GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=SEED)
        model.fit(data.x_train, y)
        onx = export_sklearn(model, held, zipmap=False)
        fixtures.append(
            Fixture(
                f"gb_{kind}",
                f"GradientBoostingClassifier, {kind}, skl2onnx: base values and "
                + ("LOGISTIC" if kind == "binary" else "SOFTMAX"),
                onx,
                [*held, *boundary_rows(onx, held, double=False)],
                "scikit-learn",
                sklearn_reference(model, held),
            )
        )
    model = GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=SEED)
    model.fit(data.xr_train, data.yr_train)
    onx = export_sklearn(model, data.xr_held)
    fixtures.append(
        Fixture(
            "gb_regressor",
            "GradientBoostingRegressor, skl2onnx: base value and summed trees",
            onx,
            [*data.xr_held, *boundary_rows(onx, data.xr_held, double=False)],
            "scikit-learn",
            (None, model.predict(data.xr_held.astype(np.float32))),
        )
    )
    return fixtures


def lightgbm_models(data: Data) -> list:
    """LightGBM learns where missing values go, so its training data has some NaNs."""
    rng = np.random.default_rng(SEED)
    x_train = data.x_train.copy()
    x_train[rng.random(x_train.shape) < 0.1] = np.nan
    held = data.x_held.copy()
    held[rng.random(held.shape) < 0.1] = np.nan
    fixtures = []
    for kind, y, zipmap in (("binary", data.y2_train, True), ("multiclass", data.y3_train, False)):
        model = lightgbm.LGBMClassifier(
            n_estimators=10,
            num_leaves=8,
            random_state=SEED,
            n_jobs=1,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
        ).fit(x_train, y)
        onx = onnxmltools.convert_lightgbm(
            model,
            name=f"lgbm_{kind}",  # otherwise a random graph name
            initial_types=[("X", MlFloatTensorType([None, N_FEATURES]))],
            zipmap=zipmap,
            target_opset=15,
        )
        stabilise(onx)
        probabilities = model.predict_proba(held.astype(np.float32))
        fixtures.append(
            Fixture(
                f"lgbm_{kind}",
                f"LGBMClassifier, {kind}, onnxmltools"
                + (" with ZipMap" if zipmap else " without ZipMap")
                + ": missing values, Identity/Cast/Mul plumbing",
                onx,
                [*held, *boundary_rows(onx, data.x_held, double=False)],
                "lightgbm",
                (list(model.classes_[probabilities.argmax(axis=1)]), probabilities),
            )
        )
    return fixtures


def export_sklearn(model, rows, zipmap=None):
    options = None if zipmap is None else {id(model): {"zipmap": zipmap}}
    onx = skl2onnx.to_onnx(
        model,
        rows[:1].astype(np.float32),
        options=options,
        target_opset={"": 17, ML: 3},
    )
    stabilise(onx)
    return onx


def stabilise(onx) -> None:
    """Exporters list opsets in set order, which changes with Python's string hashing: sort them
    (duplicates stay, as exported). Lower the IR version to one onnxruntime reads."""
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    onx.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in opsets)
    onx.ir_version = min(onx.ir_version, IR_VERSION)


def sklearn_reference(model, rows):
    # scikit-learn's trees compare float32 features, as the exported models do.
    rows = rows.astype(np.float32)
    return list(model.predict(rows)), model.predict_proba(rows)


def assert_not_preorder(model) -> None:
    """The fixture is only useful if some tree lists a child before a node that precedes it in a
    depth-first walk."""
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    trees = {}
    for i, tree in enumerate(attrs["nodes_treeids"]):
        trees.setdefault(tree, []).append(i)
    for positions in trees.values():
        ids = [attrs["nodes_nodeids"][i] for i in positions]
        children = {
            attrs["nodes_nodeids"][i]: (attrs["nodes_truenodeids"][i], attrs["nodes_falsenodeids"][i])
            for i in positions
            if attrs["nodes_modes"][i] != b"LEAF"
        }
        order, stack = [], [ids[0]]
        while stack:
            node_id = stack.pop()
            order.append(node_id)
            if node_id in children:
                true_child, false_child = children[node_id]
                stack.extend([false_child, true_child])
        if order != ids:
            return
    sys.exit("rf_max_leaf_nodes: every tree is in pre-order; choose other parameters")


def double_attributes_fixture(model, held) -> Fixture:
    """The same forest as rf_multiclass with double thresholds and weights (`*_as_tensor`, ml
    opset 3) and a double input. skl2onnx 1.20 always writes float attributes, so the attributes
    come from skl2onnx's own tree walk with dtype float64 and are packed here."""
    attrs = get_default_tree_classifier_attribute_pairs()
    for tree_id, estimator in enumerate(model.estimators_):
        add_tree_to_attribute_pairs(
            attrs,
            True,
            estimator.tree_,
            tree_id,
            1.0 / len(model.estimators_),
            0,
            True,
            True,
            dtype=np.float64,
        )
    del attrs["nodes_hitrates"]
    for name in ("nodes_values", "class_weights"):
        attrs[f"{name}_as_tensor"] = numpy_helper.from_array(
            np.array(attrs.pop(name), dtype=np.float64), name=f"{name}_as_tensor"
        )
    attrs["classlabels_int64s"] = [int(c) for c in model.classes_]
    node = helper.make_node(
        "TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain=ML, **attrs
    )
    graph = helper.make_graph(
        [node],
        "rf_double",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, N_FEATURES])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info(
                "probabilities", TensorProto.FLOAT, [None, len(model.classes_)]
            ),
        ],
    )
    onx = make_model(graph, ml_opset=3)
    rows = held.astype(np.float64)
    return Fixture(
        "rf_multiclass_double",
        "rf_multiclass's forest with double attributes (*_as_tensor, ml opset 3) and a double "
        "input, attributes from skl2onnx's tree walk",
        onx,
        [*rows, *boundary_rows(onx, held, double=True)],
        "scikit-learn",
        (list(model.predict(rows.astype(np.float32))), model.predict_proba(rows.astype(np.float32))),
    )


def double_input_fixture(model, held) -> Fixture:
    """skl2onnx's export for a double input: float attributes, compared in double by onnxruntime."""
    onx = skl2onnx.to_onnx(
        model,
        held[:1].astype(np.float64),
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, ML: 3},
    )
    stabilise(onx)
    return Fixture(
        "rf_multiclass_double_input",
        "rf_multiclass's forest exported by skl2onnx for a double input (float attributes)",
        onx,
        [*held, *boundary_rows(onx, held, double=True), *boundary_rows(onx, held, double=False)],
        "scikit-learn",
        None,
    )


def tree_ensemble_v5_fixture(regressor_model, held) -> Fixture:
    """rf_regressor rewritten as the ml-opset-5 `TreeEnsemble` operator (skl2onnx and
    onnxmltools do not emit it): interior nodes and leaves in separate lists, modes as a uint8
    tensor, splits and leaf weights as tensors. onnxruntime must answer exactly as on the
    opset-3 model."""
    node = next(n for n in regressor_model.graph.node if n.op_type == "TreeEnsembleRegressor")
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    position = {
        (t, n): i for i, (t, n) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"]))
    }
    weight = {(t, n): w for t, n, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"])}
    interior = [i for i, m in enumerate(a["nodes_modes"]) if m != b"LEAF"]
    interior_index = {i: k for k, i in enumerate(interior)}
    leaves = [i for i, m in enumerate(a["nodes_modes"]) if m == b"LEAF"]
    leaf_index = {i: k for k, i in enumerate(leaves)}

    def child(i, node_id):
        j = position[(a["nodes_treeids"][i], node_id)]
        return (leaf_index[j], 1) if j in leaf_index else (interior_index[j], 0)

    true_ids, true_leafs, false_ids, false_leafs = [], [], [], []
    for i in interior:
        t, tl = child(i, a["nodes_truenodeids"][i])
        f, fl = child(i, a["nodes_falsenodeids"][i])
        true_ids.append(t)
        true_leafs.append(tl)
        false_ids.append(f)
        false_leafs.append(fl)
    roots = []
    for i, tree in enumerate(a["nodes_treeids"]):
        if i == 0 or a["nodes_treeids"][i - 1] != tree:
            roots.append(interior_index[i])
    tree_ensemble = helper.make_node(
        "TreeEnsemble",
        ["X"],
        ["variable"],
        domain=ML,
        nodes_featureids=[a["nodes_featureids"][i] for i in interior],
        nodes_splits=numpy_helper.from_array(
            np.array([a["nodes_values"][i] for i in interior], dtype=np.float32)
        ),
        nodes_modes=numpy_helper.from_array(np.zeros(len(interior), dtype=np.uint8)),
        nodes_truenodeids=true_ids,
        nodes_trueleafs=true_leafs,
        nodes_falsenodeids=false_ids,
        nodes_falseleafs=false_leafs,
        tree_roots=roots,
        leaf_targetids=[0] * len(leaves),
        leaf_weights=numpy_helper.from_array(
            np.array(
                [weight[(a["nodes_treeids"][i], a["nodes_nodeids"][i])] for i in leaves],
                dtype=np.float32,
            )
        ),
        n_targets=1,
        aggregate_function=1,  # SUM: skl2onnx already divided the weights by the tree count
        post_transform=0,
    )
    graph = helper.make_graph(
        [tree_ensemble],
        "rf_regressor_v5",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
    )
    onx = make_model(graph, ml_opset=5, onnx_opset=21)
    rows = [*held, *boundary_rows(regressor_model, held, double=False)]
    expected = run_onnxruntime(regressor_model, np.asarray(rows))["values"]
    fixture = Fixture(
        "rf_regressor_v5",
        "rf_regressor rewritten as TreeEnsemble (ai.onnx.ml opset 5)",
        onx,
        rows,
        "scikit-learn",
    )
    if fixture.outputs["values"] != expected:
        sys.exit("rf_regressor_v5: onnxruntime answers differently than on the opset-3 model")
    return fixture


def handmade_models() -> list:
    """Operator corners checked against onnxruntime: every split mode, missing values sent either
    way, node ids that are neither dense nor ordered, averaging with base values; an unscored
    class; a binary margin without a transform."""
    x = np.float32
    grid = [x(v) for v in (-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0)]
    rows = [[a, b, c] for a in grid for b in grid[::2] for c in (grid[0], grid[4], grid[-1])]
    rows += [[np.nan, 0.0, 0.0], [0.0, np.nan, 0.0], [0.0, 0.0, np.nan], [np.nan] * 3]

    # Tree 7: ids 10, 3, 11, 12, 1, 5, 6 (root listed first; neither dense nor sorted; onnxruntime
    # wants child ids below the total node count).
    # Tree 2: a lone leaf. Tree 9: BRANCH_GT sending missing values to true, then BRANCH_LT.
    nodes = [
        # tree, id, feature, mode, value, true, false, missing_true
        (7, 10, 0, "BRANCH_LEQ", 0.5, 3, 11, 1),
        (7, 3, 1, "BRANCH_LT", -0.5, 12, 5, 0),
        (7, 11, 2, "BRANCH_GTE", 0.25, 6, 1, 1),
        (7, 12, 0, "LEAF", 0.0, 0, 0, 0),
        (7, 1, 0, "LEAF", 0.0, 0, 0, 0),
        (7, 5, 0, "LEAF", 0.0, 0, 0, 0),
        (7, 6, 0, "LEAF", 0.0, 0, 0, 0),
        (2, 0, 0, "LEAF", 0.0, 0, 0, 0),
        (9, 0, 2, "BRANCH_GT", 0.25, 1, 2, 1),
        (9, 1, 1, "LEAF", 0.0, 0, 0, 0),
        (9, 2, 1, "BRANCH_LT", 1.0, 3, 4, 0),
        (9, 3, 0, "LEAF", 0.0, 0, 0, 0),
        (9, 4, 0, "LEAF", 0.0, 0, 0, 0),
    ]
    leaf_weights = [
        # tree, id, target, weight
        (7, 12, 0, 1.5), (7, 12, 1, -0.5), (7, 1, 0, 0.75), (7, 5, 1, 2.0), (7, 6, 0, -1.25),
        (2, 0, 0, 0.125), (2, 0, 1, 0.375),
        (9, 1, 0, 3.0), (9, 3, 1, -2.5), (9, 4, 0, 0.5), (9, 4, 1, 0.5),
    ]
    regressor = tree_node(
        "TreeEnsembleRegressor", nodes, leaf_weights, "target",
        n_targets=2, aggregate_function="AVERAGE", base_values=[0.5, -0.25],
    )
    fixtures = [
        Fixture(
            "handmade_modes_missing",
            "TreeEnsembleRegressor built by hand: LEQ/LT/GTE/GT splits, missing values to either "
            "side, sparse unordered node ids, a one-leaf tree, two targets, AVERAGE, base values",
            model_of(regressor, n_inputs=3, outputs=[("variable", TensorProto.FLOAT, [None, 2])]),
            rows,
            "onnx.helper",
        )
    ]

    # Three classes, class 1 ("b") never receives a weight, so onnxruntime leaves it out of the
    # label's argmax; LOGISTIC applies to every column.
    class_weights = [
        (7, 12, 0, 0.5), (7, 12, 2, 0.5), (7, 1, 0, -1.0), (7, 5, 2, 0.25), (7, 6, 0, 0.75),
        (2, 0, 2, -0.125),
        (9, 1, 0, 1.0), (9, 3, 2, 1.0), (9, 4, 0, -0.5),
    ]
    classifier = tree_node(
        "TreeEnsembleClassifier", nodes, class_weights, "class",
        classlabels_strings=["a", "b", "c"], post_transform="LOGISTIC",
    )
    fixtures.append(
        Fixture(
            "handmade_unscored_class",
            "TreeEnsembleClassifier built by hand: string labels, a class no leaf scores, LOGISTIC",
            model_of(
                classifier,
                n_inputs=3,
                outputs=[
                    ("label", TensorProto.STRING, [None]),
                    ("probabilities", TensorProto.FLOAT, [None, 3]),
                ],
            ),
            rows,
            "onnx.helper",
        )
    )

    # A binary margin: one score column, mixed signs, no transform: onnxruntime writes [-s, s].
    margin_weights = [
        (7, 12, 0, 0.5), (7, 1, 0, -1.0), (7, 5, 0, 0.25), (7, 6, 0, -0.75),
        (2, 0, 0, -0.125),
        (9, 1, 0, 1.0), (9, 3, 0, -1.0), (9, 4, 0, 0.5),
    ]
    binary = tree_node(
        "TreeEnsembleClassifier", nodes, margin_weights, "class",
        classlabels_int64s=[-1, 1], base_values=[0.0625],
    )
    fixtures.append(
        Fixture(
            "handmade_binary_margin",
            "TreeEnsembleClassifier built by hand: binary, one score column with mixed signs, a "
            "base value, no transform (onnxruntime answers [-s, s])",
            model_of(
                binary,
                n_inputs=3,
                outputs=[
                    ("label", TensorProto.INT64, [None]),
                    ("probabilities", TensorProto.FLOAT, [None, 2]),
                ],
            ),
            rows,
            "onnx.helper",
        )
    )
    # Exact ties. Three classes: rows can tie between classes 0 and 1, or between classes 1 and 2
    # while class 0 is unscored; onnxruntime takes the first scored class.
    tie_weights = [
        (7, 12, 0, 0.5), (7, 12, 1, 0.5), (7, 1, 1, 0.25), (7, 1, 2, 0.25), (7, 5, 0, 0.125),
        (7, 6, 2, 0.5),
        (2, 0, 1, 0.0),
        (9, 1, 2, 0.0), (9, 3, 0, 0.0), (9, 4, 1, 0.0),
    ]
    ties = tree_node(
        "TreeEnsembleClassifier", nodes, tie_weights, "class", classlabels_int64s=[10, 20, 30]
    )
    fixtures.append(
        Fixture(
            "handmade_ties",
            "TreeEnsembleClassifier built by hand: exact ties between classes, with and without "
            "an unscored class",
            model_of(
                ties,
                n_inputs=3,
                outputs=[
                    ("label", TensorProto.INT64, [None]),
                    ("probabilities", TensorProto.FLOAT, [None, 3]),
                ],
            ),
            rows,
            "onnx.helper",
        )
    )
    # A binary probability exactly 0.5 on some rows: onnxruntime answers the first class there.
    half_weights = [
        (7, 12, 0, 0.25), (7, 1, 0, 0.5), (7, 5, 0, 0.375), (7, 6, 0, 0.125),
        (2, 0, 0, 0.0),
        (9, 1, 0, 0.25), (9, 3, 0, 0.0), (9, 4, 0, 0.125),
    ]
    half = tree_node(
        "TreeEnsembleClassifier", nodes, half_weights, "class", classlabels_strings=["no", "yes"]
    )
    fixtures.append(
        Fixture(
            "handmade_binary_half",
            "TreeEnsembleClassifier built by hand: binary probabilities, exactly 0.5 on some rows",
            model_of(
                half,
                n_inputs=3,
                outputs=[
                    ("label", TensorProto.STRING, [None]),
                    ("probabilities", TensorProto.FLOAT, [None, 2]),
                ],
            ),
            rows,
            "onnx.helper",
        )
    )
    # TreeEnsemble corners: node 0 (x0 <= 0.5) -> leaf 0 or node 1; node 1 (x1 > 1, NaN to
    # true) -> leaf 1 or leaf 0 again (a shared leaf); tree 1 is the lone leaf 2, named by node 2
    # whose branches both point at it. Two targets, averaged.
    v5 = helper.make_node(
        "TreeEnsemble",
        ["X"],
        ["variable"],
        domain=ML,
        nodes_featureids=[0, 1, 0],
        nodes_splits=numpy_helper.from_array(np.array([0.5, 1.0, 0.0], dtype=np.float32)),
        nodes_modes=numpy_helper.from_array(np.array([0, 3, 0], dtype=np.uint8)),
        nodes_truenodeids=[0, 1, 2],
        nodes_trueleafs=[1, 1, 1],
        nodes_falsenodeids=[1, 0, 2],
        nodes_falseleafs=[0, 1, 1],
        nodes_missing_value_tracks_true=[0, 1, 0],
        tree_roots=[0, 2],
        leaf_targetids=[0, 1, 0],
        leaf_weights=numpy_helper.from_array(np.array([1.5, -2.0, 0.25], dtype=np.float32)),
        n_targets=2,
        aggregate_function=0,
        post_transform=0,
    )
    graph = helper.make_graph(
        [v5],
        "handmade_v5",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 2])],
    )
    fixtures.append(
        Fixture(
            "handmade_v5",
            "TreeEnsemble built by hand: a leaf shared by two splits, a one-leaf tree, BRANCH_GT "
            "sending missing values to true, two targets, AVERAGE",
            make_model(graph, ml_opset=5, onnx_opset=21),
            rows,
            "onnx.helper",
        )
    )
    return fixtures


def bench_fixture() -> Fixture:
    """The benchmarks' model, made like `fluxops-train --synthetic 1000`'s: 1000 rows, 800 to
    train, 100 trees of depth 10; the 200 held-out rows and the boundary rows are the rows both
    benchmarks predict."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((1000, 10))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    x_train, x_held = x[:800], x[800:]
    model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=SEED, n_jobs=1)
    model.fit(x_train, y[:800])
    onx = export_sklearn(model, x_held, zipmap=False)
    return Fixture(
        "rf_bench",
        "RandomForestClassifier, 100 trees of depth 10, binary, 10 features: the benchmarks' model",
        onx,
        [*x_held, *boundary_rows(onx, x_held, double=False)],
        "scikit-learn",
        sklearn_reference(model, x_held),
    )


def refused_models(data: Data) -> list:
    """Models a data scientist may export that the importer refuses, with a part of its message:
    a scaler in front of the forest (skl2onnx's export of a Pipeline), and a split mode no tree
    ensemble exporter writes (BRANCH_EQ)."""
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("forest", RandomForestClassifier(n_estimators=3, max_depth=3, random_state=SEED)),
        ]
    ).fit(data.x_train, data.y2_train)
    scaler = skl2onnx.to_onnx(
        pipeline,
        data.x_held[:1].astype(np.float32),
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset={"": 17, ML: 3},
    )
    stabilise(scaler)
    nodes = [
        (0, 0, 0, "BRANCH_EQ", 1.0, 1, 2, 0),
        (0, 1, 0, "LEAF", 0.0, 0, 0, 0),
        (0, 2, 0, "LEAF", 0.0, 0, 0, 0),
    ]
    equal = tree_node(
        "TreeEnsembleRegressor", nodes, [(0, 1, 0, 1.0), (0, 2, 0, 2.0)], "target", n_targets=1
    )
    return [
        (
            "scaler_in_front",
            "Pipeline(StandardScaler, RandomForestClassifier) exported by skl2onnx",
            scaler,
            "operator `Scaler`",
        ),
        (
            "branch_eq",
            "TreeEnsembleRegressor built by hand with a BRANCH_EQ split",
            model_of(equal, n_inputs=1, outputs=[("variable", TensorProto.FLOAT, [None, 1])]),
            "node mode BRANCH_EQ",
        ),
    ]


def tree_node(op_type, nodes, weights, prefix, **extra):
    columns = list(zip(*nodes))
    attrs = dict(
        nodes_treeids=list(columns[0]),
        nodes_nodeids=list(columns[1]),
        nodes_featureids=list(columns[2]),
        nodes_modes=list(columns[3]),
        nodes_values=[float(v) for v in columns[4]],
        nodes_truenodeids=list(columns[5]),
        nodes_falsenodeids=list(columns[6]),
        nodes_missing_value_tracks_true=list(columns[7]),
    )
    w = list(zip(*weights))
    attrs[f"{prefix}_treeids"] = list(w[0])
    attrs[f"{prefix}_nodeids"] = list(w[1])
    attrs[f"{prefix}_ids"] = list(w[2])
    attrs[f"{prefix}_weights"] = [float(v) for v in w[3]]
    attrs.update(extra)
    outputs = ["label", "probabilities"] if op_type == "TreeEnsembleClassifier" else ["variable"]
    return helper.make_node(op_type, ["X"], outputs, domain=ML, **attrs)


def model_of(node, n_inputs, outputs):
    graph = helper.make_graph(
        [node],
        "handmade",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, n_inputs])],
        [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in outputs],
    )
    return make_model(graph, ml_opset=3)


def make_model(graph, ml_opset, onnx_opset=17):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", onnx_opset), helper.make_opsetid(ML, ml_opset)],
        producer_name="fluxops-fixtures",
        producer_version="1",
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model)
    return model


def json_row(row) -> list:
    return [None if np.isnan(v) else float(v) for v in row]


def write_json(path: Path, value: dict) -> None:
    """One key per line and one row per line: small files and readable diffs."""
    lines = []
    for key, item in value.items():
        if isinstance(item, list) and item and isinstance(item[0], (list, dict)):
            rows = ",\n  ".join(json.dumps(row) for row in item)
            lines.append(f" {json.dumps(key)}: [\n  {rows}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(item)}")
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    main()
