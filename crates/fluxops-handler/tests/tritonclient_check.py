#!/usr/bin/env python3
"""The handler's Open Inference Protocol routes, driven by a real third-party client.

Uses `tritonclient[http]` (as a user would: default settings, so binary tensors) against a
running handler that serves MODEL, and checks:
  - server live and ready, server metadata, model metadata and readiness (with and without the
    version), unknown models and versions;
  - inference with JSON and with binary tensors, in and out, FP32 and FP64, one row and a batch:
    answers equal to `/api/predict`'s for the same rows, whatever the model (INT64 or BYTES
    labels and probabilities within 1e-12 for a classifier, FP64 values for a regressor);
  - errors: status and the protocol's error object;
  - every V2 response body against the schemas of the protocol's own OpenAPI document
    (binary outputs with their decoded data put back), plus what a schema cannot say: each
    output's shape product equals its data length, datatype names are the protocol's.

Usage: tritonclient_check.py HOST:PORT MODEL OPEN_INFERENCE_REST_YAML
Prints one line per check; exits 1 at the first failure, saying what differed.
"""

import json
import sys
import urllib.error
import urllib.request
from importlib.metadata import version as package_version

import jsonschema
import numpy as np
import tritonclient.http as httpclient
import yaml
from tritonclient.utils import InferenceServerException

DATATYPES = {
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BF16", "BYTES",
}
BATCH_ROWS = 64
PROBABILITY_TOLERANCE = 1e-12


class Check:
    def __init__(self, address, model, spec_path):
        self.base = f"http://{address}"
        self.model = model
        # The client takes the address without a scheme.
        self.client = httpclient.InferenceServerClient(url=address)
        with open(spec_path, encoding="utf-8") as spec_file:
            self.components = yaml.safe_load(spec_file)["components"]
        self.passed = 0

    def ok(self, what):
        self.passed += 1
        print(f"ok: {what}")

    def valid(self, body, schema_name, what):
        """Validates `body` against the spec's `#/components/schemas/<schema_name>`."""
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": self.components}
        try:
            jsonschema.Draft202012Validator(schema).validate(body)
        except jsonschema.ValidationError as error:
            raise AssertionError(f"{what}: not a valid {schema_name}: {error.message}\n{body}")

    def http(self, method, path, body=None):
        """A plain HTTP request: (status, parsed JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def expect_error(self, status, body, code, schema_name, what):
        if status != code:
            raise AssertionError(f"{what}: status {status}, expected {code}: {body}")
        self.valid(body, schema_name, what)
        if set(body) != {"error"} or not body["error"]:
            raise AssertionError(f"{what}: not the protocol's error object: {body}")
        self.ok(f"{what}: {code} {body['error']!r}")

    def server(self):
        assert self.client.is_server_live(), "the server is not live"
        assert self.client.is_server_ready(), "the server is not ready"
        for path, expected in [("/v2/health/live", {"live": True}),
                               ("/v2/health/ready", {"ready": True})]:
            status, body = self.http("GET", path)
            assert (status, body) == (200, expected), f"GET {path}: {status} {body}"
        self.ok("server live and ready")
        metadata = self.client.get_server_metadata()
        self.valid(metadata, "metadata_server_response", "server metadata")
        assert "binary_tensor_data" in metadata["extensions"], metadata
        self.ok(f"server metadata {metadata}")

    def model_metadata(self):
        metadata = self.client.get_model_metadata(self.model)
        self.valid(metadata, "metadata_model_response", "model metadata")
        self.version = metadata["versions"][0]
        again = self.client.get_model_metadata(self.model, model_version=self.version)
        assert again == metadata, f"{again} != {metadata}"
        for tensor in metadata["inputs"] + metadata["outputs"]:
            assert tensor["datatype"] in DATATYPES, tensor
        (model_input,) = metadata["inputs"]
        assert model_input["shape"][0] == -1, model_input
        self.n_features = model_input["shape"][1]
        outputs = {output["name"]: output for output in metadata["outputs"]}
        # INT64 or BYTES labels and their probabilities for a classifier; FP64 values for a
        # regressor, which has no probabilities.
        self.predict_datatype = outputs["predict"]["datatype"]
        self.is_classifier = self.predict_datatype in ("INT64", "BYTES")
        if self.is_classifier:
            assert set(outputs) == {"predict", "predict_proba"}, outputs
            assert outputs["predict"]["shape"] == [-1, 1], outputs
            self.n_classes = outputs["predict_proba"]["shape"][1]
        else:
            assert self.predict_datatype == "FP64" and set(outputs) == {"predict"}, outputs
        self.output_names = [output["name"] for output in metadata["outputs"]]
        self.ok(f"model metadata, version {self.version}, {self.n_features} features, "
                f"predict as {self.predict_datatype}")
        assert self.client.is_model_ready(self.model)
        assert self.client.is_model_ready(self.model, model_version=self.version)
        assert not self.client.is_model_ready("no-such-model")
        assert not self.client.is_model_ready(self.model, model_version="no-such-version")
        status, body = self.http("GET", f"/v2/models/{self.model}/ready")
        assert (status, body) == (200, {"name": self.model, "ready": True}), (status, body)
        self.ok("model ready, by name and by version; unknown ones not")
        for path in ["/v2/models/no-such-model", f"/v2/models/{self.model}/versions/v0"]:
            status, body = self.http("GET", path)
            self.expect_error(status, body, 404, "metadata_model_error_response", f"GET {path}")
        try:
            self.client.get_model_metadata("no-such-model")
            raise AssertionError("metadata of an unknown model")
        except InferenceServerException as error:
            assert error.status() == "404", error
            self.ok(f"tritonclient sees 404: {error.message()!r}")

    def reference(self, rows):
        """What `/api/predict` answers for `rows` (float64): labels (INT64 or BYTES, as
        tritonclient decodes them) and probabilities, or a regressor's values and None."""
        if len(rows) == 1:
            status, body = self.http("POST", "/api/predict", {"features": rows[0].tolist()})
            answers = [body]
        else:
            status, body = self.http("POST", "/api/predict", {"instances": rows.tolist()})
            answers = body["predictions"]
        assert status == 200, body
        predictions = [answer["prediction"] for answer in answers]
        if self.predict_datatype == "FP64":
            return np.array([np.atleast_1d(value) for value in predictions], dtype=np.float64), None
        if self.predict_datatype == "BYTES":
            labels = np.array([[label.encode()] for label in predictions], dtype=np.object_)
        else:
            labels = np.array([[label] for label in predictions], dtype=np.int64)
        probabilities = np.array([list(answer["probability"].values()) for answer in answers])
        return labels, probabilities

    def same_predictions(self, result, labels, probabilities, what):
        """`predict` equal to `/api/predict`'s (a regressor's values within the tolerance, as
        JSON carries them), `predict_proba` within the tolerance."""
        got = result.as_numpy("predict")
        assert got.shape == labels.shape, f"{what}: shape {got.shape} != {labels.shape}"
        if self.predict_datatype == "FP64":
            difference = np.max(np.abs(got - labels))
            assert difference <= PROBABILITY_TOLERANCE, f"{what}: values differ by {difference}"
        else:
            if self.predict_datatype == "BYTES":
                # tritonclient gives BYTES read from JSON as str, from binary data as bytes.
                got = np.array([[value.encode() if isinstance(value, str) else value
                                 for value in row] for row in got], dtype=np.object_)
            assert got.dtype == labels.dtype, f"{what}: {got.dtype} labels"
            assert np.array_equal(got, labels), f"{what}: {got} != {labels}"
        if probabilities is not None:
            got = result.as_numpy("predict_proba")
            assert got.shape == (len(labels), self.n_classes), got.shape
            difference = np.max(np.abs(got - probabilities))
            assert difference <= PROBABILITY_TOLERANCE, \
                f"{what}: probabilities differ by {difference}"

    def check_response(self, result, request_id, what):
        """Validates the response, binary outputs with their decoded data put back."""
        response = json.loads(json.dumps(result.get_response()))
        assert response["model_name"] == self.model, response
        assert response["model_version"] == self.version, response
        assert response.get("id") == request_id, response
        for output in response["outputs"]:
            if "data" not in output:
                size = output["parameters"]["binary_data_size"]
                data = result.as_numpy(output["name"])
                # BYTES elements are sent as a 4-byte length and the bytes.
                sent = (sum(4 + len(value) for value in data.flatten())
                        if data.dtype == np.object_ else data.nbytes)
                assert sent == size, f"{what}: {sent} bytes, declared {size}"
                # As JSON would carry them: BYTES elements as strings.
                output["data"] = [value.decode() if isinstance(value, bytes) else value
                                  for value in data.flatten().tolist()]
            assert output["datatype"] in DATATYPES, output
            assert int(np.prod(output["shape"])) == len(output["data"]), output
        self.valid(response, "inference_response", what)

    def infer(self):
        rng = np.random.default_rng(7)
        rows = rng.uniform(0.0, 1.0, size=(BATCH_ROWS, self.n_features))
        for datatype, dtype in [("FP64", np.float64), ("FP32", np.float32)]:
            values = rows.astype(dtype)
            for batch in [values[:1], values]:
                # The same rows, as the float64 numbers the datatype holds.
                labels, probabilities = self.reference(batch.astype(np.float64))
                for binary_in in [True, False]:
                    for binary_out in [True, False]:
                        self.infer_once(datatype, batch, binary_in, binary_out,
                                        labels, probabilities)
        # The client's defaults: binary inputs, no outputs named (so all, in binary).
        model_input = httpclient.InferInput("input-0", [BATCH_ROWS, self.n_features], "FP64")
        model_input.set_data_from_numpy(rows)
        result = self.client.infer(self.model, [model_input])
        self.check_response(result, None, "defaults")
        labels, probabilities = self.reference(rows)
        self.same_predictions(result, labels, probabilities, "defaults")
        self.ok("the client's defaults (binary in, every output in binary)")

    def infer_once(self, datatype, batch, binary_in, binary_out, labels, probabilities):
        what = (f"infer {datatype} {list(batch.shape)}, "
                f"{'binary' if binary_in else 'JSON'} in, {'binary' if binary_out else 'JSON'} out")
        model_input = httpclient.InferInput("input-0", list(batch.shape), datatype)
        model_input.set_data_from_numpy(batch, binary_data=binary_in)
        outputs = [httpclient.InferRequestedOutput(name, binary_data=binary_out)
                   for name in self.output_names]
        request_id = f"{datatype}-{len(batch)}-{binary_in}-{binary_out}"
        version = self.version if binary_in else ""
        result = self.client.infer(self.model, [model_input], model_version=version,
                                   outputs=outputs, request_id=request_id)
        self.check_response(result, request_id, what)
        self.same_predictions(result, labels, probabilities, what)
        self.ok(what)

    def json_requests(self):
        """Requests written by hand: nested data, an id, one output; and errors."""
        rows = [[0.25] * self.n_features, [0.75] * self.n_features]
        last_output = self.output_names[-1]
        request = {"id": "nested", "inputs": [{"name": "rows", "shape": [2, self.n_features],
                                               "datatype": "FP64", "data": rows}],
                   "outputs": [{"name": last_output}]}
        path = f"/v2/models/{self.model}/infer"
        status, body = self.http("POST", path, request)
        assert status == 200, body
        self.valid(body, "inference_response", "nested JSON data")
        (output,) = body["outputs"]
        assert output["name"] == last_output and output["shape"][0] == 2, output
        assert len(output["data"]) == 2 * output["shape"][1], output
        self.ok(f"nested JSON data, one output asked for ({last_output})")
        wrong_width = {"inputs": [{"name": "rows", "shape": [1, 3], "datatype": "FP64",
                                   "data": [1, 2, 3]}]}
        status, body = self.http("POST", path, wrong_width)
        self.expect_error(status, body, 400, "inference_error_response", "3 features")
        if not self.is_classifier:
            status, body = self.http("POST", path, dict(request, outputs=[{"name": "predict_proba"}]))
            self.expect_error(status, body, 400, "inference_error_response",
                              "predict_proba of a regressor")
        status, body = self.http("POST", "/v2/models/no-such-model/infer", wrong_width)
        self.expect_error(status, body, 404, "inference_error_response", "unknown model")
        try:
            model_input = httpclient.InferInput("input-0", [1, 3], "FP32")
            model_input.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
            self.client.infer(self.model, [model_input])
            raise AssertionError("a row of 3 features was answered")
        except InferenceServerException as error:
            assert error.status() == "400", error
            self.ok(f"tritonclient sees 400: {error.message()!r}")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    check = Check(*sys.argv[1:])
    try:
        check.server()
        check.model_metadata()
        check.infer()
        check.json_requests()
    except (AssertionError, InferenceServerException) as error:
        print(f"FAIL: {error}")
        sys.exit(1)
    print(f"tritonclient {package_version('tritonclient')}: "
          f"{check.passed} checks passed against {check.base}")


if __name__ == "__main__":
    main()
