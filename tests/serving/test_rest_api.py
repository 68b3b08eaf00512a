"""TF Serving's REST JSON, both ends, without a server or a model.

What `rest_api` accepts and writes, what the clients build and read, and
the version policy of `servables.ModelVersions` (with a stand-in loader:
the real one is exercised by test_rest_server.py).
"""

import base64
import json
import os

import numpy as np
import pytest

from sdn_tf.serving import client
from sdn_tf.serving import rest_api
from sdn_tf.serving import rest_client
from sdn_tf.serving import servables
from sdn_tf.utils.errors import UsageError

GENERATE = {
  "text": rest_api.TensorSpec("string", (None,)),
  "seed": rest_api.TensorSpec("int64", (None,)),
}
SERVING_DEFAULT = {"text": rest_api.TensorSpec("string", (None,))}


def _inputs(body, specs=GENERATE):
  request = rest_api.parse_predict_request(json.dumps(body).encode())
  return request, rest_api.request_inputs(request, specs)


def test_row_format_with_named_instances():
  request, arrays = _inputs(
    {
      "signature_name": "generate",
      "instances": [
        {"text": "a red circle", "seed": 3},
        {"text": {"b64": base64.b64encode(b"\xffraw").decode()}, "seed": -1},
      ],
    }
  )
  assert request.signature_name == "generate" and not request.columnar
  assert arrays["text"].tolist() == [b"a red circle", b"\xffraw"]
  assert arrays["seed"].dtype == np.int64
  assert arrays["seed"].tolist() == [3, -1]
  assert rest_api.batch_size(arrays) == 2


def test_bare_instances_for_a_single_input_signature():
  request, arrays = _inputs({"instances": ["a", "b"]}, SERVING_DEFAULT)
  assert request.signature_name == "serving_default"
  assert arrays["text"].tolist() == [b"a", b"b"]


def test_columnar_format():
  request, arrays = _inputs(
    {"signature_name": "generate", "inputs": {"text": ["a"], "seed": [7]}}
  )
  assert request.columnar
  assert arrays["seed"].tolist() == [7]
  _, bare = _inputs({"inputs": ["a", "b"]}, SERVING_DEFAULT)
  assert bare["text"].tolist() == [b"a", b"b"]


def test_embedding_input_of_rank_two():
  specs = {"embedding": rest_api.TensorSpec("float32", (None, 2))}
  _, arrays = _inputs({"instances": [[0.5, 1], [2, 3.25]]}, specs)
  assert arrays["embedding"].dtype == np.float32
  assert arrays["embedding"].shape == (2, 2)


@pytest.mark.parametrize(
  "body, message",
  [
    (b"{", "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100000, "nested too deeply"),
    (b"[1]", "must be a JSON object"),
    (b"{}", "exactly one of"),
    (b'{"instances": [], "inputs": []}', "exactly one of"),
    (b'{"instance": []}', "unknown key"),
    (b'{"signature_name": 3, "instances": []}', "'signature_name'"),
  ],
)
def test_bad_bodies(body, message):
  with pytest.raises(rest_api.RequestError, match=message):
    rest_api.parse_predict_request(body)


@pytest.mark.parametrize(
  "instances, message",
  [
    ("a", "'instances' must be a list"),
    ([{"text": "a"}], "no 'seed'"),
    ([{"text": "a", "seed": 1, "x": 2}], "has 'x'"),
    (["a"], "must be an object naming each input"),
    ([{"text": 5, "seed": 1}], "expected a string"),
    ([{"text": {"b64": "%%%"}, "seed": 1}], "not base64"),
    ([{"text": "a", "seed": "1"}], "expected a number"),
    ([{"text": "a", "seed": True}], "expected a number"),
    ([{"text": "a", "seed": 1.5}], "expected an integer"),
    ([{"text": "a", "seed": 2**63}], "out of int64's range"),
    ([{"text": ["a"], "seed": 1}], "more dimensions"),
    ([{"text": "\ud800", "seed": 1}], "not valid Unicode"),
  ],
)
def test_bad_instances_name_the_input(instances, message):
  with pytest.raises(rest_api.RequestError, match=message):
    _inputs({"signature_name": "generate", "instances": instances})


def test_ragged_and_mismatched_batches():
  specs = {"embedding": rest_api.TensorSpec("float32", (None, 2))}
  with pytest.raises(rest_api.RequestError, match="ragged"):
    _inputs({"inputs": [[1, 2], [3]]}, specs)
  with pytest.raises(rest_api.RequestError, match="batch sizes differ"):
    _inputs({"inputs": {"text": ["a", "b"], "seed": [1]}})


def test_empty_batch_has_size_zero():
  _, arrays = _inputs({"instances": []}, SERVING_DEFAULT)
  assert rest_api.batch_size(arrays) == 0


def _outputs():
  return {
    "image": np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3),
    "image_png_bytes": np.array([b"\x89PNG1", b"\x89PNG2"], dtype=object),
  }


def test_row_response_base64_encodes_bytes_outputs():
  response = rest_api.predict_response(_outputs(), columnar=False)
  first = response["predictions"][0]
  assert first["image"] == _outputs()["image"][0].tolist()
  assert first["image_png_bytes"] == {
    "b64": base64.b64encode(b"\x89PNG1").decode()
  }


def test_columnar_response_and_text_outputs():
  response = rest_api.predict_response(
    {"label": np.array([b"cat", b"\xff"], dtype=object)}, columnar=True
  )
  # Text stays text; bytes that are not UTF-8 fall back to base64.
  assert response == {"outputs": ["cat", {"b64": "/w=="}]}


@pytest.mark.parametrize("columnar", [False, True])
def test_client_reads_what_the_server_writes(columnar):
  response = json.loads(
    rest_api.dumps(rest_api.predict_response(_outputs(), columnar))
  )
  outputs = rest_api.response_outputs(response)
  assert outputs["image_png_bytes"] == [b"\x89PNG1", b"\x89PNG2"]
  np.testing.assert_array_equal(outputs["image"], _outputs()["image"])


@pytest.mark.parametrize("columnar", [False, True])
def test_server_reads_what_the_client_writes(columnar):
  inputs = rest_client.caption_inputs(["a red circle", "caf\udcc3"], seed=4)
  body = rest_api.predict_body(inputs, "generate", columnar)
  request, arrays = _inputs(body)
  assert request.columnar == columnar
  # A caption that is not UTF-8 (argv's surrogate escape) goes as b64.
  assert arrays["text"].tolist() == [b"a red circle", b"caf\xc3"]
  assert arrays["seed"].tolist() == [4, 4]


def test_odd_responses_are_value_errors():
  for response in ({}, {"predictions": 3}, {"outputs": {"a": 1}}):
    with pytest.raises(ValueError):
      rest_api.response_outputs(response)


def test_client_server_addresses():
  assert rest_client.base_url("localhost:8501") == "http://localhost:8501"
  assert rest_client.base_url("https://h:1/x") == "https://h:1"
  for bad in ("", "localhost", "ftp://h:1", "h:port"):
    with pytest.raises(UsageError, match="--server"):
      rest_client.base_url(bad)
  assert rest_client.model_url("h:1", "sdn", 3) == (
    "http://h:1/v1/models/sdn/versions/3"
  )


def test_client_output_names_and_signature():
  assert client.out_paths("x/out.png", 1) == ["x/out.png"]
  assert client.out_paths("out.png", 2) == ["out_0.png", "out_1.png"]
  assert client.choose_signature(None, None) == "serving_default"
  assert client.choose_signature(None, 3) == "generate"
  with pytest.raises(UsageError, match="--seed"):
    client.choose_signature("serving_default", 3)


class _Loaded:
  def __init__(self, version):
    self.version = version


def _make_versions(root, *versions):
  for version in versions:
    os.makedirs(root / str(version), exist_ok=True)
    (root / str(version) / "saved_model.pb").write_bytes(b"")


def test_version_policy(tmp_path):
  _make_versions(tmp_path, 1, 2)
  (tmp_path / ".partial-3").mkdir()  # Being written: not a version.
  broken = set()

  def loader(path, version):
    if version in broken:
      raise OSError(f"cannot read {path}")
    return _Loaded(version)

  versions = servables.ModelVersions(str(tmp_path), loader=loader)
  versions.refresh()
  assert versions.get().version == 2
  assert versions.get(1) is None  # Older than the newest: not loaded.
  # A new version that fails to load leaves the last good one serving.
  broken.add(3)
  _make_versions(tmp_path, 3)
  versions.refresh()
  assert versions.get().version == 2
  (failed,) = versions.status(3)
  assert failed["state"] == servables.END
  assert "cannot read" in failed["status"]["error_message"]
  # A good one replaces it; the one it replaces is unloaded.
  _make_versions(tmp_path, 4)
  versions.refresh()
  assert versions.get().version == 4
  states = {s["version"]: s["state"] for s in versions.status()}
  assert states == {"4": "AVAILABLE", "3": "END", "2": "END"}


def test_version_policy_keeps_n_versions(tmp_path):
  _make_versions(tmp_path, 1, 2, 3)
  versions = servables.ModelVersions(
    str(tmp_path), num_versions=2, loader=lambda p, v: _Loaded(v)
  )
  versions.refresh()
  assert [versions.get(v) is not None for v in (1, 2, 3)] == [
    False,
    True,
    True,
  ]


def test_base_path_checks(tmp_path):
  with pytest.raises(UsageError, match="--model_base_path: .* not a dir"):
    servables.check_base_path(str(tmp_path / "missing"))
  (tmp_path / "saved_model.pb").write_bytes(b"")
  with pytest.raises(UsageError, match="is a SavedModel itself"):
    servables.check_base_path(str(tmp_path))
