"""TF Serving's REST API for one exported model, on the standard library.

  GET  /v1/models/{name}[/versions/{v}]            version status
  GET  /v1/models/{name}[/versions/{v}]/metadata   signature defs
  POST /v1/models/{name}[/versions/{v}]:predict    row or columnar JSON
  GET  /                                           a demo page

The JSON bodies, status codes and error bodies ({"error": "..."}) are TF
Serving's (https://www.tensorflow.org/tfx/serving/api_rest), so its clients
work unchanged: 400 for a bad request or an InvalidArgument from the graph
(the model's batch limit included), 404 for an unknown model, version or
path, 413 for a body over the cap. `RestService` answers requests without
any HTTP; `make_server` puts it behind http.server.ThreadingHTTPServer.

No authentication: bind to 127.0.0.1 (the default) unless a proxy in front
of it guards access.
"""

import dataclasses
import html
import http
from http import server as http_server
import os
import re
import socket
import threading
import time
from typing import Optional
from typing import Tuple
import urllib.parse

from absl import logging

from sdn_tf.serving import rest_api
from sdn_tf.serving import servables
from sdn_tf.utils.errors import UsageError

MAX_BODY_BYTES = 1 << 20
MAX_BATCH_SIZE = 256
DEMO_PAGE = os.path.join(os.path.dirname(__file__), "static", "demo.html")
# The demo page's placeholder for the model's name.
_MODEL_NAME_MARK = "__MODEL_NAME__"
# A body this much over the cap is not read: the connection is just closed.
_MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES
# Seconds an idle keep-alive connection, or a slow body, may take.
_SOCKET_TIMEOUT_S = 60
# Seconds a request waits for a free slot before 503.
_SLOT_WAIT_S = 120

_MODEL_PATH = re.compile(
  r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
  r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?"
)
_JSON = "application/json"
_PAGE_POLICY = (
  "default-src 'none'; script-src 'unsafe-inline'; "
  "style-src 'unsafe-inline'; img-src data:; connect-src 'self'"
)


@dataclasses.dataclass(frozen=True)
class Response:
  status: int
  body: bytes
  content_type: str = _JSON
  headers: Tuple[Tuple[str, str], ...] = ()


def error(status: int, message: str, *headers) -> Response:
  return Response(status, rest_api.dumps({"error": message}), _JSON, headers)


def _ok(value) -> Response:
  return Response(200, rest_api.dumps(value))


def _graph_error_status(e: Exception) -> int:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  if isinstance(
    e,
    (
      tf.errors.InvalidArgumentError,
      tf.errors.OutOfRangeError,
      tf.errors.FailedPreconditionError,
    ),
  ):
    return 400
  if isinstance(e, tf.errors.ResourceExhaustedError):
    return 503
  return 500


class RestService:
  """Answers the REST API's requests for one model (no HTTP here)."""

  def __init__(
    self,
    model_name: str,
    versions: servables.ModelVersions,
    max_batch_size: int = MAX_BATCH_SIZE,
    max_concurrent_predicts: int = 2,
  ):
    self.model_name = model_name
    self.versions = versions
    self.max_batch_size = max_batch_size
    # Bounds the memory and threads that model calls take at once.
    self._slots = threading.BoundedSemaphore(max_concurrent_predicts)
    with open(DEMO_PAGE, encoding="utf-8") as f:
      page = f.read()
    self._page = page.replace(
      _MODEL_NAME_MARK, html.escape(model_name, quote=True)
    ).encode("utf-8")

  def get(self, path: str) -> Response:
    if path in ("/", "/index.html"):
      return Response(
        200,
        self._page,
        "text/html; charset=utf-8",
        (("Content-Security-Policy", _PAGE_POLICY),),
      )
    match = _MODEL_PATH.fullmatch(path)
    if not match:
      return error(404, f"unknown path {path}")
    if match["verb"]:
      return error(405, f"{path} takes POST", ("Allow", "POST"))
    version = int(match["version"]) if match["version"] else None
    if match["name"] != self.model_name:
      return error(404, f"Could not find any versions of model {match['name']}")
    if match["metadata"]:
      return self._metadata(version)
    statuses = self.versions.status(version)
    if not statuses:
      which = f"version {version} of " if version is not None else ""
      return error(404, f"Could not find {which}model {self.model_name}")
    return _ok({"model_version_status": statuses})

  def _metadata(self, version: Optional[int]) -> Response:
    loaded = self.versions.get(version)
    if loaded is None:
      return error(404, self._not_found(version))
    return _ok(
      {
        "model_spec": {
          "name": self.model_name,
          "signature_name": "",
          "version": str(loaded.version),
        },
        "metadata": {
          "signature_def": {
            "signature_def": loaded.signature_defs,
            "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
          }
        },
      }
    )

  def _not_found(self, version: Optional[int]) -> str:
    # TF Serving's wording.
    if version is None:
      return f"Servable not found for request: Latest({self.model_name})"
    return (
      f"Servable not found for request: Specific({self.model_name}, {version})"
    )

  def post(self, path: str, body: bytes) -> Response:
    match = _MODEL_PATH.fullmatch(path)
    if not match:
      return error(404, f"unknown path {path}")
    if not match["verb"]:
      return error(405, f"{path} takes GET", ("Allow", "GET"))
    if match["verb"] != "predict":
      return error(
        400, f"this model has only predict signatures, not :{match['verb']}"
      )
    if match["name"] != self.model_name:
      name = match["name"]
      return error(404, f"Servable not found for request: Latest({name})")
    version = int(match["version"]) if match["version"] else None
    loaded = self.versions.get(version)
    if loaded is None:
      return error(404, self._not_found(version))
    return self._predict(loaded, body)

  def _predict(self, loaded: servables.LoadedVersion, body: bytes) -> Response:
    try:
      request = rest_api.parse_predict_request(body)
      signature = loaded.signatures.get(request.signature_name)
      if signature is None:
        return error(
          400,
          f'Serving signature name: "{request.signature_name}" not found '
          f"in signature def (the model has "
          f"{', '.join(sorted(loaded.signatures))})",
        )
      inputs = rest_api.request_inputs(request, signature.inputs)
    except rest_api.RequestError as e:
      return error(400, str(e))
    # An empty batch goes to the model, as in TF Serving: the export
    # answers it with empty outputs.
    size = rest_api.batch_size(inputs)
    if size > self.max_batch_size:
      return error(
        400,
        f"a batch of {size} is over this server's limit of "
        f"{self.max_batch_size} (--max_batch_size)",
      )
    if not self._slots.acquire(timeout=_SLOT_WAIT_S):
      return error(503, "the server is busy; try again")
    try:
      outputs = loaded.run(request.signature_name, inputs)
    except Exception as e:  # pylint: disable=broad-except
      status = _graph_error_status(e)
      if status == 500:
        logging.exception("Predict failed")
      return error(status, getattr(e, "message", None) or str(e))
    finally:
      self._slots.release()
    return _ok(rest_api.predict_response(outputs, request.columnar))


class _Handler(http_server.BaseHTTPRequestHandler):
  """HTTP in and out for `RestService`; one line logged per request."""

  protocol_version = "HTTP/1.1"  # Keep-alive: every reply has a length.
  # A malformed request line still gets a status line and headers (HTTP/0.9,
  # http.server's default, has neither).
  default_request_version = "HTTP/1.0"
  server_version = "sdn_tf-serving"
  # Headers and body go out in two writes; with Nagle's algorithm the second
  # waits for the client's delayed ACK of the first (~40 ms a reply).
  disable_nagle_algorithm = True
  timeout = _SOCKET_TIMEOUT_S

  def version_string(self):
    return self.server_version  # Not the Python version.

  def parse_request(self):
    self._started = time.monotonic()
    return super().parse_request()

  def do_GET(self):  # pylint: disable=invalid-name
    self._answer(lambda: self.server.service.get(self._path()))

  do_HEAD = do_GET

  def do_POST(self):  # pylint: disable=invalid-name
    body, refusal = self._read_body()
    if refusal is not None:
      self._reply(refusal)
      return
    self._answer(lambda: self.server.service.post(self._path(), body))

  def _not_allowed(self):
    self.close_connection = True  # Any body is left unread.
    self._reply(error(405, f"{self.command} is not supported"))

  do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

  def _path(self) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)

  def _answer(self, respond) -> None:
    try:
      response = respond()
    except Exception:  # pylint: disable=broad-except
      # A bug must cost one request, not the connection or the server.
      logging.exception("Error answering %s", self.requestline)
      response = error(500, "internal error; see the server's log")
    self._reply(response)

  def handle_expect_100(self):
    # Refuse a body over the cap before the client sends it.
    refusal = self._length_refusal()
    if refusal is not None:
      self._reply(refusal)
      return False
    return super().handle_expect_100()

  def _length_refusal(self) -> Optional[Response]:
    if self.headers.get("Transfer-Encoding"):
      self.close_connection = True
      return error(411, "send the body with a Content-Length, not chunked")
    text = self.headers.get("Content-Length")
    if text is None:
      return None
    if not (text.isascii() and text.isdigit()):
      self.close_connection = True
      return error(400, f"bad Content-Length {text[:20]!r}")
    cap = self.server.max_body_bytes
    if int(text) > cap:
      self.close_connection = True
      return error(413, f"the body is over the limit of {cap} bytes")
    return None

  def _read_body(self) -> Tuple[bytes, Optional[Response]]:
    refusal = self._length_refusal()
    if refusal is not None:
      if refusal.status == 413:
        length = int(self.headers["Content-Length"])
        if length <= _MAX_DRAIN_BYTES:
          # Reading it lets the client see the 413 instead of a reset.
          self._discard(length)
      return b"", refusal
    length = int(self.headers.get("Content-Length") or 0)
    body = self.rfile.read(length)
    if len(body) < length:
      self.close_connection = True
      return b"", error(400, "the body is shorter than its Content-Length")
    return body, None

  def _discard(self, length: int) -> None:
    while length > 0:
      chunk = self.rfile.read(min(length, 1 << 16))
      if not chunk:
        return
      length -= len(chunk)

  def send_error(self, code, message=None, explain=None):
    # http.server's own errors (bad request line, headers too long, ...)
    # in the API's JSON form instead of HTML.
    del explain  # The message says it.
    self.close_connection = True
    text = message or http.HTTPStatus(code).phrase
    self._reply(error(int(code), text))

  def _reply(self, response: Response) -> None:
    self.send_response(response.status)
    self.send_header("Content-Type", response.content_type)
    self.send_header("Content-Length", str(len(response.body)))
    self.send_header("X-Content-Type-Options", "nosniff")
    self.send_header("Cache-Control", "no-store")
    for name, value in response.headers:
      self.send_header(name, value)
    if self.close_connection:
      self.send_header("Connection", "close")
    try:
      self.end_headers()
      if self.command != "HEAD":
        self.wfile.write(response.body)
    except OSError as e:
      # The client left; the server has nothing to clean up.
      self.close_connection = True
      logging.warning("Could not send the reply: %s", e)
    started = getattr(self, "_started", None)
    elapsed = (time.monotonic() - started) * 1e3 if started else 0.0
    logging.info(
      '%s "%s" %d %d %.1f ms',
      self.client_address[0],
      getattr(self, "requestline", ""),
      response.status,
      len(response.body),
      elapsed,
    )

  def log_request(self, code="-", size="-"):
    del code, size  # _reply logs each request, with its size and time.

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    logging.warning("%s: %s", self.address_string(), format % args)


class ModelHTTPServer(http_server.ThreadingHTTPServer):
  """A thread per connection, all answering through one `RestService`."""

  daemon_threads = True
  request_queue_size = 64  # Connections waiting for accept(); default 5.

  def __init__(
    self, address: Tuple[str, int], service: RestService, max_body_bytes: int
  ):
    if ":" in address[0]:
      self.address_family = socket.AF_INET6
    self.service = service
    self.max_body_bytes = max_body_bytes
    super().__init__(address, _Handler)

  @property
  def port(self) -> int:
    return self.server_address[1]


def make_server(
  model_base_path: str,
  model_name: str = "sdn",
  host: str = "127.0.0.1",
  port: int = 8501,
  poll_interval_s: float = 2.0,
  num_versions: int = 1,
  max_body_bytes: int = MAX_BODY_BYTES,
  max_batch_size: int = MAX_BATCH_SIZE,
  max_concurrent_predicts: int = 2,
) -> ModelHTTPServer:
  """A bound server for the newest version(s) under `model_base_path`.

  Loads what is there now (a base path without versions yet is served
  as soon as one appears), then polls for new versions every
  `poll_interval_s` seconds; `serve_forever()` answers requests.

  Raises:
    UsageError: naming the flag, for a bad path, limit or port.
  """
  servables.check_base_path(model_base_path)
  for name, value in (
    ("max_body_bytes", max_body_bytes),
    ("max_batch_size", max_batch_size),
    ("max_concurrent_predicts", max_concurrent_predicts),
  ):
    if value < 1:
      raise UsageError(f"must be at least 1, got {value}", flag=name)
  if not 0 <= port < 65536:
    raise UsageError(f"{port} is not a port number", flag="port")
  versions = servables.ModelVersions(model_base_path, num_versions)
  service = RestService(
    model_name, versions, max_batch_size, max_concurrent_predicts
  )
  try:
    server = ModelHTTPServer((host, port), service, max_body_bytes)
  except OSError as e:
    raise UsageError(
      f"cannot listen on {host}:{port}: {e.strerror or e}", flag="port"
    ) from None
  versions.refresh()
  if versions.get() is None:
    logging.warning(
      "No loadable version under %s yet; waiting for one", model_base_path
    )
  versions.start_polling(poll_interval_s)
  return server


def url(server: ModelHTTPServer) -> str:
  """http://host:port/ of a bound server."""
  host = server.server_address[0]
  if ":" in host:  # IPv6 addresses go in brackets.
    host = f"[{host}]"
  return f"http://{host}:{server.port}/"


def serve(server: ModelHTTPServer) -> None:
  """Answers requests until interrupted, then stops polling and closes."""
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    logging.info("Interrupted; stopping")
  finally:
    server.service.versions.stop_polling()
    server.server_close()
