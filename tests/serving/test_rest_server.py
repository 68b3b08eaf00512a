"""`python -m sdn_tf.serve` in a real subprocess, and what talks to it.

One tiny untrained export and one server (on a free port of 127.0.0.1) for
the module: TF Serving's REST API (status, metadata, predict in both
formats and both signatures, errors), its limits and robustness, the
client CLI as a real subprocess, the demo page in headless Chromium, and,
last because it adds versions, picking up a new export.

The untrained tiny generator draws the same image whatever the caption and
seed (its output is ~1e-7 before the uint8 conversion), so the seed tests
can show determinism but not that seeds differ.
"""

import base64
import dataclasses
import http.client
import http.server
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

import numpy as np
from PIL import Image
import pytest

from tests.serving import tiny_export

REPO_ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
MODEL = "sdn"
IMAGE_SIZE = 32  # tiny_export's image_size.
MODEL_BATCH_LIMIT = 256  # The export's own, checked in the graph.
# Above the model's limit, so that a batch of 257 reaches the graph's check.
SERVER_BATCH_LIMIT = 512
BODY_LIMIT = 1 << 20
START_TIMEOUT_S = 120
CLIENT_TIMEOUT_S = 60
VERSION_TIMEOUT_S = 60


def _env() -> Dict[str, str]:
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  return env


@dataclasses.dataclass
class Server:
  process: subprocess.Popen
  port: int
  log_path: str

  @property
  def address(self) -> str:
    return f"127.0.0.1:{self.port}"

  def log(self) -> str:
    with open(self.log_path, errors="replace") as f:
      return f.read()


def start_server(base_path: str, folder: str, *flags: str) -> Server:
  """Starts the server; returns once it prints the port it listens on."""
  out_path = os.path.join(folder, "serve.out")
  log_path = os.path.join(folder, "serve.log")
  with open(out_path, "w") as out, open(log_path, "w") as log:
    process = subprocess.Popen(
      [
        sys.executable,
        "-m",
        "sdn_tf.serve",
        f"--model_base_path={base_path}",
        "--port=0",
        *flags,
      ],
      cwd=REPO_ROOT,
      env=_env(),
      stdout=out,
      stderr=log,
    )
  deadline = time.monotonic() + START_TIMEOUT_S
  while True:
    with open(out_path) as f:
      found = re.search(r"at http://127\.0\.0\.1:(\d+)/", f.read())
    if found:
      return Server(process, int(found.group(1)), log_path)
    if process.poll() is not None or time.monotonic() > deadline:
      process.kill()
      process.wait()
      with open(log_path) as f:
        tail = f.read()[-3000:]
      pytest.fail(
        f"the server did not start (exit {process.returncode}):\n{tail}"
      )
    time.sleep(0.1)


@pytest.fixture(scope="module")
def export_root(tmp_path_factory) -> str:
  root = str(tmp_path_factory.mktemp("serving"))
  tiny_export.export_tiny(root)
  return root


@pytest.fixture(scope="module")
def server(export_root):
  started = start_server(
    os.path.join(export_root, "export"),
    export_root,
    "--poll_interval_s=0.5",
    f"--max_batch_size={SERVER_BATCH_LIMIT}",
  )
  yield started
  started.process.terminate()
  try:
    started.process.wait(timeout=20)
  except subprocess.TimeoutExpired:
    started.process.kill()
    started.process.wait()


def request(
  server: Server,
  method: str,
  path: str,
  body: Optional[bytes] = None,
  headers: Optional[Dict[str, str]] = None,
) -> Tuple[int, Dict[str, str], bytes]:
  connection = http.client.HTTPConnection(
    "127.0.0.1", server.port, timeout=CLIENT_TIMEOUT_S
  )
  try:
    connection.request(method, path, body=body, headers=headers or {})
    reply = connection.getresponse()
    return reply.status, dict(reply.getheaders()), reply.read()
  finally:
    connection.close()


def get(server: Server, path: str) -> Tuple[int, Any]:
  status, headers, body = request(server, "GET", path)
  assert headers["Content-Type"] == "application/json"
  return status, json.loads(body)


def predict(
  server: Server, body: Any, path: str = f"/v1/models/{MODEL}:predict"
) -> Tuple[int, Any]:
  raw = body if isinstance(body, bytes) else json.dumps(body).encode()
  status, headers, answer = request(
    server, "POST", path, raw, {"Content-Type": "application/json"}
  )
  assert headers["Content-Type"] == "application/json"
  return status, json.loads(answer)


def png_pixels(b64: Dict[str, str]) -> np.ndarray:
  image = Image.open(io.BytesIO(base64.b64decode(b64["b64"])))
  assert image.format == "PNG" and image.mode == "RGB"
  assert image.size == (IMAGE_SIZE, IMAGE_SIZE)
  return np.asarray(image)


def b64(text: str) -> Dict[str, str]:
  return {"b64": base64.b64encode(text.encode()).decode()}


# Status and metadata.


def test_status_is_tf_servings(server):
  status, body = get(server, f"/v1/models/{MODEL}")
  assert status == 200
  assert body == {
    "model_version_status": [
      {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
      }
    ]
  }
  assert get(server, f"/v1/models/{MODEL}/versions/1") == (200, body)


def test_metadata_lists_both_signatures(server):
  status, body = get(server, f"/v1/models/{MODEL}/metadata")
  assert status == 200
  assert body["model_spec"] == {
    "name": MODEL,
    "signature_name": "",
    "version": "1",
  }
  defs = body["metadata"]["signature_def"]["signature_def"]
  generate = defs["generate"]
  assert generate["method_name"] == "tensorflow/serving/predict"
  assert generate["inputs"]["text"]["dtype"] == "DT_STRING"
  assert generate["inputs"]["seed"]["dtype"] == "DT_INT64"
  assert set(defs["serving_default"]["inputs"]) == {"text"}
  assert set(generate["outputs"]) == {"image", "image_png_bytes"}


# Predict.


def test_row_format_serving_default(server):
  status, body = predict(
    server, {"instances": ["a small red circle", b64("a blue square")]}
  )
  assert status == 200, body
  predictions = body["predictions"]
  assert len(predictions) == 2
  for prediction in predictions:
    image = np.array(prediction["image"], dtype=np.uint8)
    assert image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    # The PNG holds exactly the image.
    np.testing.assert_array_equal(
      png_pixels(prediction["image_png_bytes"]), image
    )


def test_columnar_format_generate(server):
  status, body = predict(
    server,
    {
      "signature_name": "generate",
      "inputs": {"text": ["a red circle", "a blue square"], "seed": [1, 2]},
    },
  )
  assert status == 200, body
  outputs = body["outputs"]
  assert np.array(outputs["image"]).shape == (2, IMAGE_SIZE, IMAGE_SIZE, 3)
  assert len(outputs["image_png_bytes"]) == 2
  for png in outputs["image_png_bytes"]:
    png_pixels(png)


def test_seeds_are_deterministic(server):
  def draw(signature, **inputs):
    body = {"signature_name": signature, "instances": [inputs]}
    status, answer = predict(server, body)
    assert status == 200, answer
    return answer["predictions"][0]["image_png_bytes"]

  first = draw("generate", text="a large square", seed=12345)
  assert draw("generate", text="a large square", seed=12345) == first
  # serving_default draws with seed 0 (export_lib's contract).
  assert draw("serving_default", text="a red circle") == draw(
    "generate", text="a red circle", seed=0
  )


def test_row_and_columnar_agree(server):
  _, rows = predict(server, {"instances": ["a circle", "a square"]})
  _, columns = predict(server, {"inputs": ["a circle", "a square"]})
  assert [p["image_png_bytes"] for p in rows["predictions"]] == columns[
    "outputs"
  ]["image_png_bytes"]


def test_empty_batch_gets_empty_outputs(server):
  assert predict(server, {"instances": []}) == (200, {"predictions": []})
  status, body = predict(
    server, {"signature_name": "generate", "inputs": {"text": [], "seed": []}}
  )
  assert (status, body) == (
    200,
    {"outputs": {"image": [], "image_png_bytes": []}},
  )


def test_predict_on_a_named_version(server):
  _, status = get(server, f"/v1/models/{MODEL}")
  version = status["model_version_status"][0]["version"]
  code, body = predict(
    server,
    {"instances": ["a"]},
    f"/v1/models/{MODEL}/versions/{version}:predict",
  )
  assert code == 200 and len(body["predictions"]) == 1


# Errors.


def test_unknown_model_version_and_path_are_404(server):
  assert get(server, "/v1/models/nope") == (
    404,
    {"error": "Could not find any versions of model nope"},
  )
  assert predict(server, {"instances": ["a"]}, "/v1/models/nope:predict") == (
    404,
    {"error": "Servable not found for request: Latest(nope)"},
  )
  assert predict(
    server, {"instances": ["a"]}, f"/v1/models/{MODEL}/versions/99:predict"
  ) == (
    404,
    {"error": f"Servable not found for request: Specific({MODEL}, 99)"},
  )
  assert get(server, f"/v1/models/{MODEL}/versions/99")[0] == 404
  assert get(server, "/v2/anything")[0] == 404
  assert get(server, f"/v1/models/{MODEL}:predict")[0] == 405


@pytest.mark.parametrize(
  "body, message",
  [
    (b'{"instances": ["a"', "not JSON"),
    (b"\xff\xfe\x00junk", "not UTF-8"),
    (b"[" * 200000, "nested too deeply"),
    (b'"just a string"', "JSON object"),
    (b'{"instances": "a"}', "must be a list"),
    (b'{"instances": [42]}', "expected a string"),
    (b'{"instances": [{"b64": "***"}]}', "not base64"),
    (b'{"signature_name": "nope", "instances": ["a"]}', '"nope" not found'),
    (
      b'{"signature_name": "generate", "instances": [{"text": "a"}]}',
      "no 'seed'",
    ),
    (
      b'{"signature_name": "generate", "instances": '
      b'[{"text": "a", "seed": "7"}]}',
      "expected a number",
    ),
    (
      b'{"signature_name": "generate", "inputs": '
      b'{"text": ["a", "b"], "seed": [1]}}',
      "batch sizes differ",
    ),
  ],
)
def test_bad_requests_are_400_with_a_reason(server, body, message):
  status, answer = predict(server, body)
  assert status == 400
  assert message in answer["error"]


def test_body_over_the_cap_is_413(server):
  status, _, body = request(
    server,
    "POST",
    f"/v1/models/{MODEL}:predict",
    b" " * (BODY_LIMIT + 1),
  )
  assert status == 413
  assert str(BODY_LIMIT) in json.loads(body)["error"]


def _raw_exchange(server: Server, data: bytes) -> bytes:
  """Sends `data` on a fresh connection; what comes back until it closes."""
  with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
    s.sendall(data)
    chunks = []
    while True:
      chunk = s.recv(65536)
      if not chunk:
        return b"".join(chunks)
      chunks.append(chunk)


def test_huge_declared_body_is_refused_unread(server):
  # 10 GB announced, none sent: answered at once, and the connection closed.
  reply = _raw_exchange(
    server,
    b"POST /v1/models/sdn:predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 10000000000\r\n\r\n",
  )
  assert reply.startswith(b"HTTP/1.1 413 ")
  assert b'{"error":' in reply


def test_malformed_http_gets_a_json_error(server):
  reply = _raw_exchange(server, b"GARBAGE\r\n\r\n")
  assert reply.startswith(b"HTTP/1.1 400 ")
  assert b'{"error":' in reply
  chunked = _raw_exchange(
    server,
    b"POST /v1/models/sdn:predict HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  )
  assert chunked.startswith(b"HTTP/1.1 411 ")
  for length in (b"abc", b"-1", "\u00b2".encode("latin-1")):
    reply = _raw_exchange(
      server,
      b"POST /v1/models/sdn:predict HTTP/1.1\r\nHost: x\r\n"
      b"Content-Length: " + length + b"\r\n\r\n{}",
    )
    assert reply.startswith(b"HTTP/1.1 400 "), reply


def test_batch_over_the_servers_limit(server):
  status, body = predict(
    server, {"instances": ["a"] * (SERVER_BATCH_LIMIT + 1)}
  )
  assert status == 400
  assert str(SERVER_BATCH_LIMIT) in body["error"]


def test_batch_over_the_models_limit_is_400_naming_it(server):
  # The graph itself refuses it (InvalidArgument -> 400, as TF Serving).
  status, body = predict(server, {"instances": ["a"] * (MODEL_BATCH_LIMIT + 1)})
  assert status == 400, f"HTTP {status}: a batch of 257 was drawn"
  assert str(MODEL_BATCH_LIMIT) in body["error"]


def test_still_serving_after_bad_requests(server):
  assert server.process.poll() is None
  assert get(server, f"/v1/models/{MODEL}")[0] == 200
  status, body = predict(server, {"instances": ["still there?"]})
  assert status == 200 and len(body["predictions"]) == 1
  # One log line per request, with its status.
  log = server.log()
  assert re.search(r'"POST /v1/models/sdn:predict HTTP/1.1" 400 \d+ ', log)
  assert re.search(r'"POST /v1/models/sdn:predict HTTP/1.1" 413 \d+ ', log)


# The client CLI.


def run_client(*flags: str) -> subprocess.CompletedProcess:
  return run_module("sdn_tf.serving.client", *flags)


def run_module(module: str, *flags: str) -> subprocess.CompletedProcess:
  return subprocess.run(
    [sys.executable, "-m", module, *flags],
    cwd=REPO_ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=CLIENT_TIMEOUT_S,
    check=False,
  )


def assert_png(path: str) -> None:
  with Image.open(path) as image:
    assert image.format == "PNG"
    assert image.size == (IMAGE_SIZE, IMAGE_SIZE)


def test_client_row_format_writes_the_png(server, tmp_path):
  out = str(tmp_path / "out.png")
  result = run_client(
    f"--server={server.address}", "--text=a red circle", f"--out={out}"
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == [out]
  assert_png(out)


def test_client_columnar_several_captions(server, tmp_path):
  out = str(tmp_path / "pics" / "out.png")
  result = run_client(
    f"--server=http://{server.address}",
    f"--model={MODEL}",
    "--text=a red circle",
    "--text=a blue square",
    "--seed=7",
    "--format=columnar",
    f"--out={out}",
  )
  assert result.returncode == 0, result.stderr
  expected = [str(tmp_path / "pics" / f"out_{i}.png") for i in (0, 1)]
  assert result.stdout.split() == expected
  for path in expected:
    assert_png(path)


def _assert_one_line_error(result, *words: str) -> None:
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith("client: error: ")
  for word in words:
    assert word in lines[0]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_client_connection_refused(tmp_path):
  result = run_client(f"--server=127.0.0.1:{_free_port()}", "--text=a")
  _assert_one_line_error(result, "--server", "connection refused")


def test_client_unknown_model_and_version(server, tmp_path):
  result = run_client(f"--server={server.address}", "--model=nope", "--text=a")
  _assert_one_line_error(result, "--model", "'nope'", "404")
  result = run_client(f"--server={server.address}", "--version=99", "--text=a")
  _assert_one_line_error(result, "--version", "99")


def test_client_timeout(tmp_path):
  # Listens (the kernel accepts the connection) but never answers.
  with socket.socket() as silent:
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    result = run_client(f"--server=127.0.0.1:{port}", "--timeout=1", "--text=a")
  _assert_one_line_error(result, "--server", "within 1 s")


@pytest.mark.parametrize(
  "status, body, shown",
  [
    (
      500,
      b'{"error": "Internal: the model crashed"}',
      "Internal: the model crashed",
    ),
    (503, b"<html>upstream gone</html>", "<html>upstream gone</html>"),
    (400, b'{"error": "Bad JSON"}', "Bad JSON"),
  ],
)
def test_client_http_errors_are_one_line(tmp_path, status, body, shown):
  # A server that answers every request with `status`, as a proxy or a
  # failing TF Serving would.
  class Failing(http.server.BaseHTTPRequestHandler):
    def _answer(self):
      self.rfile.read(int(self.headers.get("Content-Length") or 0))
      self.send_response(status)
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
      pass

  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  try:
    port = httpd.server_address[1]
    result = run_client(f"--server=127.0.0.1:{port}", "--text=a")
  finally:
    httpd.shutdown()
    httpd.server_close()
  _assert_one_line_error(result, "--server", f"HTTP {status}", shown)


# The demo page.


def _no_browser(reason: str):
  """Skips where no browser can run; fails in CI, which installs one."""
  if os.environ.get("SDN_TF_REQUIRE_BROWSER") == "1":
    pytest.fail(f"{reason}, and SDN_TF_REQUIRE_BROWSER=1 requires it")
  pytest.skip(reason)


def _chrome_driver(tmp_path):
  binary, driver = "/usr/bin/chromium", "/usr/bin/chromedriver"
  for path in (binary, driver):
    if not os.path.exists(path):
      _no_browser(
        f"{path} is not installed (Debian's chromium, chromium-driver)"
      )
  try:
    # pylint: disable=g-import-not-at-top
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # pylint: enable=g-import-not-at-top
  except ImportError:
    _no_browser("selenium is not installed")
  options = webdriver.ChromeOptions()
  options.binary_location = binary
  for argument in (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    f"--user-data-dir={tmp_path / 'chrome-profile'}",
  ):
    options.add_argument(argument)
  return webdriver.Chrome(
    service=Service(executable_path=driver), options=options
  )


def test_demo_page_draws_a_caption(server, tmp_path):
  browser = _chrome_driver(tmp_path)
  try:
    # pylint: disable=g-import-not-at-top
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # pylint: enable=g-import-not-at-top
    browser.get(f"http://{server.address}/")
    caption = browser.find_element(By.ID, "caption")
    caption.clear()
    caption.send_keys("a large blue square <b>at the bottom</b>")
    seed = browser.find_element(By.ID, "seed")
    seed.clear()
    seed.send_keys("42")
    browser.find_element(By.ID, "draw").click()
    image = WebDriverWait(browser, 60).until(
      lambda b: next(
        (
          i
          for i in b.find_elements(By.CSS_SELECTOR, "img")
          if (i.get_attribute("src") or "").startswith("data:image/png;base64,")
          and b.execute_script("return arguments[0].naturalWidth;", i)
        ),
        None,
      )
    )
    size = browser.execute_script(
      "return [arguments[0].naturalWidth, arguments[0].naturalHeight];", image
    )
    assert size == [IMAGE_SIZE, IMAGE_SIZE]
    shown = browser.find_element(By.ID, "shown-caption").text
    # Shown as text, not markup.
    assert "a large blue square <b>at the bottom</b>" in shown
    assert browser.find_element(By.ID, "error").text == ""
    screenshot = tmp_path / "demo.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 0
  finally:
    browser.quit()


# Last: adds versions to the export the other tests use.


def _wait_for_states(server: Server, wanted: Dict[str, str]) -> List[dict]:
  deadline = time.monotonic() + VERSION_TIMEOUT_S
  while True:
    _, body = get(server, f"/v1/models/{MODEL}")
    statuses = body["model_version_status"]
    states = {s["version"]: s["state"] for s in statuses}
    if all(states.get(v) == s for v, s in wanted.items()):
      return statuses
    if time.monotonic() > deadline:
      pytest.fail(
        f"versions {states}, waited for {wanted}:\n{server.log()[-3000:]}"
      )
    time.sleep(0.2)


def test_new_versions_are_picked_up(server, export_root):
  tiny_export.export_tiny(export_root)  # Version 2, renamed into place.
  _wait_for_states(server, {"2": "AVAILABLE", "1": "END"})
  assert (
    get(server, f"/v1/models/{MODEL}/metadata")[1]["model_spec"]["version"]
    == "2"
  )
  for version, expected in ((2, 200), (1, 404)):
    status, _ = predict(
      server,
      {"instances": ["a"]},
      f"/v1/models/{MODEL}/versions/{version}:predict",
    )
    assert status == expected
  # A version that cannot load is reported; version 2 keeps serving.
  broken = os.path.join(export_root, "export", "3")
  os.makedirs(broken)
  with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
    f.write(b"not a SavedModel")
  statuses = _wait_for_states(server, {"3": "END", "2": "AVAILABLE"})
  (failed,) = [s for s in statuses if s["version"] == "3"]
  assert failed["status"]["error_code"] != "OK"
  assert failed["status"]["error_message"]
  assert predict(server, {"instances": ["a"]})[0] == 200
  assert (
    get(server, f"/v1/models/{MODEL}/metadata")[1]["model_spec"]["version"]
    == "2"
  )
  shutil.rmtree(broken)


def test_serve_usage_errors_are_one_line(tmp_path):
  version = tmp_path / "1"
  version.mkdir()
  (version / "saved_model.pb").write_bytes(b"")
  for flags, words in (
    ([f"--model_base_path={tmp_path / 'missing'}"], "not a directory"),
    ([f"--model_base_path={version}"], "is a SavedModel itself"),
    ([f"--model_base_path={tmp_path}", "--port=70000"], "--port"),
    ([], "--model_base_path"),
  ):
    result = run_module("sdn_tf.serve", *flags)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("serve: error: ")
    assert words in result.stderr
