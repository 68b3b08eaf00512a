"""Calls TF Serving's REST predict API (TF Serving or `sdn_tf.serve`).

Standard library only (urllib). Every failure to get an answer, and every
error the server answers with, is a `UsageError` naming --server or
--model, in one line: the CLI prints it and exits with status 2.
"""

import json
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
import urllib.error
import urllib.parse
import urllib.request

from sdn_tf.serving import rest_api
from sdn_tf.utils.errors import UsageError

PNG_OUTPUT = "image_png_bytes"
# Longest server error text quoted in an error line.
_MAX_QUOTED = 1000


def base_url(server: str) -> str:
  """http://host:port for `server`, given as host:port or as a URL."""
  if not server:
    raise UsageError("required (host:port)", flag="server")
  url = server if "://" in server else f"http://{server}"
  parts = urllib.parse.urlsplit(url)
  try:
    port = parts.port
  except ValueError:
    port = None
  if parts.scheme not in ("http", "https") or not parts.hostname or not port:
    raise UsageError(
      f"{server!r} is not host:port (e.g. localhost:8501)", flag="server"
    )
  return f"{parts.scheme}://{parts.netloc}"


def model_url(server: str, model: str, version: Optional[int] = None) -> str:
  if not model:
    raise UsageError("required", flag="model")
  url = f"{base_url(server)}/v1/models/{urllib.parse.quote(model, safe='')}"
  return url if version is None else f"{url}/versions/{version}"


def caption_inputs(
  captions: Sequence[str], seed: Optional[int] = None
) -> Dict[str, List[Any]]:
  """The model's inputs for `captions` (bytes from argv's surrogate
  escapes kept as given) and, for `generate`, one `seed` for every row."""
  texts = [c.encode("utf-8", "surrogateescape") for c in captions]
  inputs: Dict[str, List[Any]] = {"text": texts}
  if seed is not None:
    inputs["seed"] = [seed] * len(texts)
  return inputs


def _one_line(text: str) -> str:
  line = " ".join(text.split())
  return line if len(line) <= _MAX_QUOTED else line[: _MAX_QUOTED - 3] + "..."


def _server_error_text(e: urllib.error.HTTPError) -> str:
  try:
    raw = e.read()
  except OSError:
    raw = b""
  try:
    message = json.loads(raw)["error"]
  except (ValueError, KeyError, TypeError):
    message = raw.decode("utf-8", "replace") or e.reason
  return _one_line(str(message))


def call(
  url: str,
  body: Optional[Dict[str, Any]],
  timeout: float,
  server: str,
  model: str,
  version: Optional[int] = None,
) -> Any:
  """GET (body None) or POST `body` as JSON to `url`; the parsed answer.

  Raises:
    UsageError: one line, for no connection, a timeout, an HTTP error (with
      the server's error text) or an answer that is not JSON.
  """
  data = None if body is None else rest_api.dumps(body)
  request = urllib.request.Request(
    url, data=data, headers={"Content-Type": "application/json"}
  )
  try:
    with urllib.request.urlopen(request, timeout=timeout) as reply:
      raw = reply.read()
  except urllib.error.HTTPError as e:
    text = _server_error_text(e)
    if e.code == 404 and (
      "Servable not found" in text or "Could not find" in text
    ):
      which = f"model {model!r}"
      if version is not None:
        which += f" version {version}"
      raise UsageError(
        f"{server} has no {which} (HTTP 404: {text})",
        flag="model" if version is None else "version",
      ) from None
    raise UsageError(
      f"{server} answered HTTP {e.code}: {text}", flag="server"
    ) from None
  except urllib.error.URLError as e:
    raise UsageError(_unreachable(server, e.reason, timeout), flag="server")
  except OSError as e:  # A timeout reading, a connection reset, ...
    raise UsageError(_unreachable(server, e, timeout), flag="server")
  try:
    return json.loads(raw)
  except ValueError:
    raise UsageError(
      f"{server} did not answer with JSON: {_one_line(repr(raw[:200]))}",
      flag="server",
    ) from None


def _unreachable(server: str, reason: Any, timeout: float) -> str:
  if isinstance(reason, ConnectionRefusedError):
    return f"cannot connect to {server}: connection refused"
  if isinstance(reason, TimeoutError):  # socket.timeout too.
    return f"no answer from {server} within {timeout:g} s (--timeout)"
  return f"cannot reach {server}: {_one_line(str(reason))}"


def predict(
  server: str,
  model: str,
  inputs: Dict[str, Sequence[Any]],
  signature_name: str = rest_api.DEFAULT_SIGNATURE,
  columnar: bool = False,
  version: Optional[int] = None,
  timeout: float = 30.0,
) -> Dict[str, List[Any]]:
  """{output name: one value a row} from the server's predict API."""
  url = model_url(server, model, version) + ":predict"
  body = rest_api.predict_body(inputs, signature_name, columnar)
  response = call(url, body, timeout, server, model, version)
  try:
    return rest_api.response_outputs(response)
  except ValueError as e:
    raise UsageError(f"{server} answered oddly: {e}", flag="server") from None


def model_status(
  server: str, model: str, version: Optional[int] = None, timeout=30.0
) -> List[Dict[str, Any]]:
  """The server's `model_version_status` entries for `model`."""
  url = model_url(server, model, version)
  answer = call(url, None, timeout, server, model, version)
  return answer.get("model_version_status", [])


def png_images(outputs: Dict[str, List[Any]]) -> List[bytes]:
  """The PNG files in `predict`'s outputs."""
  if PNG_OUTPUT not in outputs:
    raise UsageError(
      f"the model has no {PNG_OUTPUT} output (it has "
      f"{', '.join(sorted(outputs))})",
      flag="model",
    )
  return list(outputs[PNG_OUTPUT])
