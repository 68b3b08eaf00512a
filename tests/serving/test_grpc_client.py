"""The gRPC client against PredictionService/Predict.

There is no TF Serving binary here, so a small gRPC server in the test
answers Predict from the real tiny export (loaded by `servables`), with TF
Serving's status codes for an unknown model or version and for the
graph's InvalidArgument. The client runs in process and as the CLI.
"""

from concurrent import futures
import io
import os
import socket
import subprocess
import sys

import grpc
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from sdn_tf.serving import grpc_client
from sdn_tf.serving import rest_client
from sdn_tf.serving import servables
from sdn_tf.utils.errors import UsageError
from tests.serving import tiny_export

REPO_ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
MODEL = "sdn"
IMAGE_SIZE = 32


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
  """Predict on one loaded version, in TF Serving's terms."""

  def __init__(self, loaded: servables.LoadedVersion):
    self._loaded = loaded

  def Predict(self, request, context):  # pylint: disable=invalid-name
    spec = request.model_spec
    if spec.name != MODEL:
      context.abort(
        grpc.StatusCode.NOT_FOUND,
        f"Servable not found for request: Latest({spec.name})",
      )
    if spec.HasField("version") and spec.version.value != self._loaded.version:
      context.abort(
        grpc.StatusCode.NOT_FOUND,
        f"Servable not found for request: Specific({spec.name}, "
        f"{spec.version.value})",
      )
    name = spec.signature_name or "serving_default"
    signature = self._loaded.signatures.get(name)
    if signature is None or set(request.inputs) != set(signature.inputs):
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad inputs for {name}")
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    try:
      outputs = self._loaded.run(name, inputs)
    except tf.errors.InvalidArgumentError as e:
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, e.message)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = MODEL
    response.model_spec.signature_name = name
    response.model_spec.version.value = self._loaded.version
    for key in request.output_filter or outputs:
      response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
    return response


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("grpc"))
  path = tiny_export.export_tiny(root)
  return servables.load_version(path, int(os.path.basename(path)))


@pytest.fixture(scope="module")
def target(loaded):
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
    PredictionService(loaded), server
  )
  port = server.add_insecure_port("127.0.0.1:0")
  server.start()
  yield f"127.0.0.1:{port}"
  server.stop(grace=None)


def _size(png: bytes):
  with Image.open(io.BytesIO(png)) as image:
    assert image.format == "PNG"
    return image.size


def test_request_has_the_exports_dtypes():
  inputs = rest_client.caption_inputs(["a", "b"], seed=3)
  request = grpc_client.predict_request(MODEL, inputs, "generate", version=2)
  assert request.inputs["text"].dtype == tf.string.as_datatype_enum
  assert request.inputs["seed"].dtype == tf.int64.as_datatype_enum
  assert request.model_spec.version.value == 2
  assert list(request.output_filter) == [grpc_client.PNG_OUTPUT]


def test_predict_returns_the_models_pngs(target, loaded):
  inputs = rest_client.caption_inputs(["a red circle", "a blue square"], 5)
  outputs = grpc_client.predict(target, MODEL, inputs, "generate")
  assert set(outputs) == {grpc_client.PNG_OUTPUT}  # output_filter
  pngs = grpc_client.png_images(outputs)
  assert [_size(p) for p in pngs] == [(IMAGE_SIZE, IMAGE_SIZE)] * 2
  direct = loaded.run(
    "generate",
    {
      "text": np.array(inputs["text"], dtype=object),
      "seed": np.array(inputs["seed"], np.int64),
    },
  )
  assert pngs == list(direct[grpc_client.PNG_OUTPUT])


@pytest.mark.parametrize(
  "kwargs, words",
  [
    (dict(model="nope"), ["--model", "'nope'", "NOT_FOUND"]),
    (dict(version=9), ["--version", "version 9"]),
    (dict(captions=["a"] * 257), ["--grpc", "INVALID_ARGUMENT", "256"]),
  ],
)
def test_errors_are_usage_errors(target, kwargs, words):
  captions = kwargs.pop("captions", ["a"])
  arguments = dict(model=MODEL, inputs=rest_client.caption_inputs(captions))
  arguments.update(kwargs)
  with pytest.raises(UsageError) as raised:
    grpc_client.predict(target, **arguments)
  message = str(raised.value)
  assert "\n" not in message
  for word in words:
    assert word in message


def test_connection_refused():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  with pytest.raises(UsageError, match="--grpc: cannot connect"):
    grpc_client.predict(
      f"127.0.0.1:{port}", MODEL, rest_client.caption_inputs(["a"]), timeout=10
    )


def test_cli_over_grpc_writes_the_png(target, tmp_path):
  out = tmp_path / "out.png"
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "sdn_tf.serving.client",
      f"--grpc={target}",
      "--text=a small red circle",
      "--seed=3",
      f"--out={out}",
    ],
    cwd=REPO_ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == [str(out)]
  assert _size(out.read_bytes()) == (IMAGE_SIZE, IMAGE_SIZE)
