"""Calls TF Serving's gRPC PredictionService/Predict (tensorflow-serving-api).

TF Serving answers gRPC on its --port (8500 by default), REST on its
--rest_api_port (8501). Only the PNG output is asked for (`output_filter`),
so a batch of large images stays within gRPC's message limits. Failures
are a `UsageError` naming --grpc or --model, in one line.
"""

from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

from sdn_tf.serving import rest_api
from sdn_tf.utils.errors import UsageError

PNG_OUTPUT = "image_png_bytes"
# Images can be large; gRPC's default limit is 4 MiB.
_MAX_MESSAGE_BYTES = 256 << 20


def predict_request(
  model: str,
  inputs: Dict[str, Sequence[Any]],
  signature_name: str = rest_api.DEFAULT_SIGNATURE,
  version: Optional[int] = None,
  output_filter: Sequence[str] = (PNG_OUTPUT,),
):
  """A PredictRequest: `inputs` {name: one value a row} as tensors (bytes
  and str as DT_STRING, ints as DT_INT64, floats as DT_FLOAT)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2

  # pylint: enable=g-import-not-at-top
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model
  request.model_spec.signature_name = signature_name
  if version is not None:
    request.model_spec.version.value = version
  for name, values in inputs.items():
    values = list(values)
    request.inputs[name].CopyFrom(
      tf.make_tensor_proto(values, _dtype(tf, name, values))
    )
  request.output_filter.extend(output_filter)
  return request


def _dtype(tf, name: str, values: List[Any]):
  # make_tensor_proto would make Python ints int32: the seeds are int64.
  kinds = {type(v) for v in values}
  if kinds <= {bytes, str}:
    return tf.string
  if kinds <= {int}:
    return tf.int64
  if kinds <= {int, float}:
    return tf.float32
  raise ValueError(f"input {name!r}: cannot send {sorted(map(str, kinds))}")


def response_outputs(response) -> Dict[str, Any]:
  """{output name: numpy array} of a PredictResponse."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return {
    name: tf.make_ndarray(proto) for name, proto in response.outputs.items()
  }


def _error(
  e, target: str, model: str, version: Optional[int], timeout: float
) -> UsageError:
  import grpc  # pylint: disable=g-import-not-at-top

  code = e.code()
  details = " ".join((e.details() or "").split())
  if code == grpc.StatusCode.UNAVAILABLE:
    return UsageError(f"cannot connect to {target}: {details}", flag="grpc")
  if code == grpc.StatusCode.DEADLINE_EXCEEDED:
    return UsageError(
      f"no answer from {target} within {timeout:g} s (--timeout)",
      flag="grpc",
    )
  if code == grpc.StatusCode.NOT_FOUND:
    which = f"model {model!r}"
    if version is not None:
      which += f" version {version}"
    return UsageError(
      f"{target} has no {which} (NOT_FOUND: {details})",
      flag="model" if version is None else "version",
    )
  return UsageError(f"{target} answered {code.name}: {details}", flag="grpc")


def predict(
  target: str,
  model: str,
  inputs: Dict[str, Sequence[Any]],
  signature_name: str = rest_api.DEFAULT_SIGNATURE,
  version: Optional[int] = None,
  timeout: float = 30.0,
) -> Dict[str, Any]:
  """{output name: numpy array} from Predict on `target` (host:port)."""
  if not target:
    raise UsageError("required (host:port)", flag="grpc")
  if not model:
    raise UsageError("required", flag="model")
  # pylint: disable=g-import-not-at-top
  import grpc
  from tensorflow_serving.apis import prediction_service_pb2_grpc

  # pylint: enable=g-import-not-at-top
  request = predict_request(model, inputs, signature_name, version)
  options = [("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES)]
  with grpc.insecure_channel(target, options=options) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      response = stub.Predict(request, timeout=timeout)
    except grpc.RpcError as e:
      raise _error(e, target, model, version, timeout) from None
  return response_outputs(response)


def png_images(outputs: Dict[str, Any]) -> List[bytes]:
  """The PNG files in `predict`'s outputs."""
  if PNG_OUTPUT not in outputs:
    raise UsageError(
      f"the answer has no {PNG_OUTPUT} output (it has "
      f"{', '.join(sorted(outputs))})",
      flag="model",
    )
  return [bytes(png) for png in outputs[PNG_OUTPUT].reshape(-1)]
