"""TF Serving's REST predict API as JSON: requests and responses.

Both ends use it: `rest_server` to read requests and write responses,
`rest_client` to write requests and read responses. Plain Python and
numpy; no TensorFlow, no HTTP.

The format (https://www.tensorflow.org/tfx/serving/api_rest):
  row      {"signature_name": S, "instances": [...]} -> {"predictions": [...]}
  columnar {"signature_name": S, "inputs": ...}      -> {"outputs": ...}
An instance is an object naming every input, or, for a signature with one
input, the bare value. Strings are JSON strings or {"b64": "..."}; string
outputs whose name ends in `_bytes` come back as {"b64": "..."}.
"""

import base64
import binascii
import dataclasses
import json
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

B64 = "b64"
BYTES_SUFFIX = "_bytes"
DEFAULT_SIGNATURE = "serving_default"
_REQUEST_KEYS = ("signature_name", "instances", "inputs")


class RequestError(ValueError):
  """A request the API cannot take (HTTP 400); the message says why."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
  """What a signature input takes: a dtype name and a shape (None: any)."""

  dtype: str  # "string", or a numpy dtype name: "int64", "float32", ...
  shape: Tuple[Optional[int], ...]


@dataclasses.dataclass(frozen=True)
class PredictRequest:
  signature_name: str
  columnar: bool  # "inputs" (columnar) rather than "instances" (row).
  data: Any  # The value of "inputs" or "instances", as parsed.


def dumps(value: Any) -> bytes:
  return json.dumps(value, separators=(",", ":")).encode("utf-8")


def parse_predict_request(body: bytes) -> PredictRequest:
  """The request in a predict call's body.

  Raises:
    RequestError: the body is not a UTF-8 JSON object in either format.
  """
  try:
    text = body.decode("utf-8")
  except UnicodeDecodeError as e:
    raise RequestError(f"the body is not UTF-8 (byte {e.start})") from None
  try:
    request = json.loads(text)
  except RecursionError:
    raise RequestError("the body's JSON is nested too deeply") from None
  except ValueError as e:
    raise RequestError(f"the body is not JSON: {e}") from None
  if not isinstance(request, dict):
    raise RequestError("the body must be a JSON object")
  unknown = sorted(set(request) - set(_REQUEST_KEYS))
  if unknown:
    raise RequestError(
      f"unknown key(s) {', '.join(map(repr, unknown))}; a predict request "
      f"holds 'signature_name' and one of 'instances' or 'inputs'"
    )
  if ("instances" in request) == ("inputs" in request):
    raise RequestError(
      "the request needs exactly one of 'instances' (row format) or "
      "'inputs' (columnar format)"
    )
  name = request.get("signature_name", DEFAULT_SIGNATURE)
  if not isinstance(name, str):
    raise RequestError("'signature_name' must be a string")
  columnar = "inputs" in request
  return PredictRequest(
    name, columnar, request["inputs" if columnar else "instances"]
  )


def _is_b64(value: Any) -> bool:
  return isinstance(value, dict) and set(value) == {B64}


def _string_leaf(value: Any) -> bytes:
  if isinstance(value, str):
    # Lone surrogates (JSON "\ud800") have no UTF-8 form.
    try:
      return value.encode("utf-8")
    except UnicodeEncodeError:
      raise RequestError("a string is not valid Unicode") from None
  if _is_b64(value) and isinstance(value[B64], str):
    try:
      return base64.b64decode(value[B64], validate=True)
    except (binascii.Error, ValueError):
      raise RequestError('a {"b64": ...} value is not base64') from None
  raise RequestError(
    f'expected a string or {{"b64": ...}}, got {_describe(value)}'
  )


def _number_leaf(dtype: np.dtype) -> Callable[[Any], Any]:
  def convert(value: Any):
    if dtype == np.bool_:
      if isinstance(value, bool):
        return value
      raise RequestError(f"expected true or false, got {_describe(value)}")
    # JSON true/false are Python bools, which are ints.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise RequestError(f"expected a number, got {_describe(value)}")
    if np.issubdtype(dtype, np.integer):
      if not isinstance(value, int):
        raise RequestError(f"expected an integer, got {_describe(value)}")
      info = np.iinfo(dtype)
      if not info.min <= value <= info.max:
        raise RequestError(f"{value} is out of {dtype.name}'s range")
    return value

  return convert


def _describe(value: Any) -> str:
  text = json.dumps(value)
  text = text if len(text) <= 40 else text[:37] + "..."
  return f"{text} ({type(value).__name__})"


def _flatten(value: Any, convert, depth: int) -> Tuple[Tuple[int, ...], List]:
  """(shape, leaves in row-major order) of nested lists `value`."""
  if not isinstance(value, list):
    return (), [convert(value)]
  if depth == 0:
    raise RequestError("has more dimensions than the signature takes")
  parts = [_flatten(v, convert, depth - 1) for v in value]
  shapes = {shape for shape, _ in parts}
  if len(shapes) > 1:
    raise RequestError("is ragged (lists of different lengths)")
  inner = shapes.pop() if shapes else ()
  return (len(value),) + inner, [leaf for _, leaves in parts for leaf in leaves]


def to_array(value: Any, spec: TensorSpec) -> np.ndarray:
  """`value` (nested JSON lists) as an array of `spec`'s dtype and shape.

  Strings become an object array of bytes (what tf.constant takes).
  """
  if spec.dtype == "string":
    convert, dtype = _string_leaf, np.dtype(object)
  else:
    dtype = np.dtype(spec.dtype)
    convert = _number_leaf(dtype)
  shape, leaves = _flatten(value, convert, len(spec.shape))
  if len(shape) != len(spec.shape) or any(
    want is not None and want != got for want, got in zip(spec.shape, shape)
  ):
    wanted = ", ".join("?" if d is None else str(d) for d in spec.shape)
    got = ", ".join(map(str, shape))
    raise RequestError(f"has shape [{got}], the signature takes [{wanted}]")
  array = np.empty(len(leaves), dtype)
  array[:] = leaves
  return array.reshape(shape)


def _inputs_by_name(
  data: Any, names: Sequence[str], where: str
) -> Dict[str, Any]:
  """`data` as {input name: value}: a named object, or a bare value when
  the signature has one input."""
  if isinstance(data, dict) and not _is_b64(data):
    missing = [n for n in names if n not in data]
    extra = sorted(set(data) - set(names))
    takes = f"the signature takes {', '.join(names)}"
    if missing:
      raise RequestError(f"{where} has no {missing[0]!r} ({takes})")
    if extra:
      raise RequestError(f"{where} has {extra[0]!r}, but {takes}")
    return dict(data)
  if len(names) == 1:
    return {names[0]: data}
  raise RequestError(
    f"{where} must be an object naming each input "
    f"({', '.join(names)}), got {_describe(data)}"
  )


def request_inputs(
  request: PredictRequest, specs: Mapping[str, TensorSpec]
) -> Dict[str, np.ndarray]:
  """The input arrays of `request` for a signature taking `specs`.

  Raises:
    RequestError: naming the input or instance at fault.
  """
  names = sorted(specs)
  if request.columnar:
    columns = _inputs_by_name(request.data, names, "'inputs'")
  else:
    if not isinstance(request.data, list):
      raise RequestError("'instances' must be a list")
    rows = [
      _inputs_by_name(row, names, f"instance {i}")
      for i, row in enumerate(request.data)
    ]
    columns = {name: [row[name] for row in rows] for name in names}
  arrays = {}
  for name in names:
    try:
      arrays[name] = to_array(columns[name], specs[name])
    except RequestError as e:
      raise RequestError(f"input {name!r}: {e}") from None
  sizes = {name: a.shape[0] if a.ndim else None for name, a in arrays.items()}
  if len(set(sizes.values())) > 1:
    listed = ", ".join(f"{n} {s}" for n, s in sorted(sizes.items()))
    raise RequestError(f"the inputs' batch sizes differ: {listed}")
  return arrays


def batch_size(arrays: Mapping[str, np.ndarray]) -> int:
  """The batch size of `request_inputs`' arrays (0 for scalars)."""
  first = next(iter(arrays.values()))
  return first.shape[0] if first.ndim else 0


def _json_leaves(name: str, array: np.ndarray) -> Any:
  """`array` as nested JSON lists; bytes as text or {"b64": ...}."""
  values = array.tolist()
  if array.dtype.kind not in ("O", "S"):
    return values

  def convert(value):
    if isinstance(value, list):
      return [convert(v) for v in value]
    if not name.endswith(BYTES_SUFFIX):
      try:
        return value.decode("utf-8")
      except UnicodeDecodeError:
        pass  # Not text after all: base64 keeps it intact.
    return {B64: base64.b64encode(value).decode("ascii")}

  return convert(values)


def predict_response(
  outputs: Mapping[str, np.ndarray], columnar: bool
) -> Dict[str, Any]:
  """The response body for a signature's `outputs` (batch-major arrays)."""
  values = {name: _json_leaves(name, a) for name, a in outputs.items()}
  names = sorted(values)
  if columnar:
    if len(names) == 1:
      return {"outputs": values[names[0]]}
    return {"outputs": {name: values[name] for name in names}}
  size = len(values[names[0]])
  if len(names) == 1:
    return {"predictions": values[names[0]]}
  return {
    "predictions": [
      {name: values[name][i] for name in names} for i in range(size)
    ]
  }


# The client's side.


def encode_string(value: bytes) -> Any:
  """A JSON string for UTF-8 text, else {"b64": ...}."""
  try:
    return value.decode("utf-8")
  except UnicodeDecodeError:
    return {B64: base64.b64encode(value).decode("ascii")}


def predict_body(
  inputs: Mapping[str, Sequence[Any]],
  signature_name: str = DEFAULT_SIGNATURE,
  columnar: bool = False,
) -> Dict[str, Any]:
  """A predict request for batch-major `inputs` ({name: one value a row});
  bytes values are sent as text when they are UTF-8, else as b64."""

  def encode(value):
    return encode_string(value) if isinstance(value, bytes) else value

  columns = {name: [encode(v) for v in vs] for name, vs in inputs.items()}
  body: Dict[str, Any] = {"signature_name": signature_name}
  if columnar:
    body["inputs"] = columns
  else:
    sizes = {len(v) for v in columns.values()}
    if len(sizes) != 1:
      raise ValueError(f"inputs of different lengths: {sorted(sizes)}")
    size = sizes.pop()
    body["instances"] = [
      {name: values[i] for name, values in columns.items()} for i in range(size)
    ]
  return body


def _decode_leaves(value: Any) -> Any:
  if isinstance(value, list):
    return [_decode_leaves(v) for v in value]
  if _is_b64(value):
    return base64.b64decode(value[B64])
  return value


SINGLE_OUTPUT = "output"


def response_outputs(response: Any) -> Dict[str, List[Any]]:
  """{output name: one value a row} from a predict response, {"b64": ...}
  decoded to bytes. A signature's only output is named `SINGLE_OUTPUT`.

  Raises:
    ValueError: `response` is neither format.
  """
  if isinstance(response, dict) and "predictions" in response:
    rows = response["predictions"]
    if not isinstance(rows, list):
      raise ValueError("'predictions' is not a list")
    if rows and all(isinstance(r, dict) and not _is_b64(r) for r in rows):
      names = sorted(rows[0])
      if any(sorted(r) != names for r in rows):
        raise ValueError("the predictions name different outputs")
      return {n: [_decode_leaves(r[n]) for r in rows] for n in names}
    return {SINGLE_OUTPUT: [_decode_leaves(r) for r in rows]}
  if isinstance(response, dict) and "outputs" in response:
    outputs = response["outputs"]
    if isinstance(outputs, dict) and not _is_b64(outputs):
      columns = {n: _decode_leaves(v) for n, v in outputs.items()}
    else:
      columns = {SINGLE_OUTPUT: _decode_leaves(outputs)}
    if not all(isinstance(v, list) for v in columns.values()):
      raise ValueError("an output is not a list (one value a row)")
    return columns
  raise ValueError("the response has neither 'predictions' nor 'outputs'")
