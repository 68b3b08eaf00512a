"""Times serving an export: the SavedModel in process, then over REST.

Usage, from the repository root:

  python tools/benchmark_serving.py --model_dir=runs/shapes/export
      [--batch_sizes=1,8,32] [--iterations=20] [--warmup=3]
      [--clients=1,4] [--duration_s=10] [--server=host:port]

In process (`sdn_tf.serving.servables`, the server's own loader): the
latency of one caption (p50, p99 over --iterations calls) and images/s at
each batch size. Over REST: `python -m sdn_tf.serve` is started on a free
port of 127.0.0.1 (or --server names a running one, TF Serving too), then
for each --clients count that many threads, each with its own keep-alive
connection, send one-caption `generate` requests for --duration_s seconds:
requests/s, and latency p50/p99 as the clients see it (JSON included).

Prints one JSON line. A benchmark, not a test: run it on an idle machine.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict
from typing import List
from typing import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from sdn_tf import cli  # pylint: disable=g-import-not-at-top
from sdn_tf.serving import loading  # pylint: disable=g-import-not-at-top
from sdn_tf.serving import rest_api  # pylint: disable=g-import-not-at-top
from sdn_tf.serving import rest_client  # pylint: disable=g-import-not-at-top

_PROG = "benchmark_serving.py"
CAPTION = "a small red circle at the top left"
_START_TIMEOUT_S = 300

_MODEL_DIR = flags.DEFINE_string(
  "model_dir", None, "Export root (<workdir>/export) or a version dir."
)
_BATCH_SIZES = flags.DEFINE_list(
  "batch_sizes", ["1", "8", "32"], "In-process batch sizes to time."
)
_ITERATIONS = flags.DEFINE_integer(
  "iterations", 20, "Timed calls per batch size, after the warm-up."
)
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed calls first.")
_CLIENTS = flags.DEFINE_list(
  "clients", ["1", "4"], "Concurrent REST clients; one run per count."
)
_DURATION_S = flags.DEFINE_float(
  "duration_s", 10.0, "Seconds of REST load per client count."
)
_SERVER = flags.DEFINE_string(
  "server", None, "host:port of a running REST server; default: start one."
)


def _percentiles(seconds: Sequence[float]) -> Dict[str, float]:
  ms = np.asarray(seconds) * 1e3
  return {
    "p50_ms": float(np.percentile(ms, 50)),
    "p99_ms": float(np.percentile(ms, 99)),
    "n": len(ms),
  }


def _timed(function, warmup: int, iterations: int) -> List[float]:
  for _ in range(warmup):
    function()
  seconds = []
  for _ in range(iterations):
    started = time.perf_counter()
    function()
    seconds.append(time.perf_counter() - started)
  return seconds


def in_process(path: str, batch_sizes: Sequence[int]) -> dict:
  """Latency of one caption and images/s per batch size, no server."""
  # pylint: disable-next=g-import-not-at-top
  from sdn_tf.serving import servables

  name = os.path.basename(path)
  loaded = servables.load_version(path, int(name) if name.isdigit() else 0)

  def call(size: int):
    inputs = {
      "text": np.array([CAPTION.encode()] * size, dtype=object),
      "seed": np.arange(size, dtype=np.int64),
    }
    return lambda: loaded.run("generate", inputs)

  one = _timed(call(1), _WARMUP.value, _ITERATIONS.value)
  throughput = {}
  for size in batch_sizes:
    seconds = _timed(call(size), _WARMUP.value, _ITERATIONS.value)
    throughput[str(size)] = dict(
      _percentiles(seconds), images_per_second=size / float(np.median(seconds))
    )
  return {"latency_one_caption": _percentiles(one), "batches": throughput}


def _load(address: str, clients: int, duration_s: float) -> dict:
  """`clients` threads posting one-caption requests for `duration_s`."""
  host, port = address.rsplit(":", 1)
  latencies: List[List[float]] = [[] for _ in range(clients)]
  errors = [0] * clients
  start = threading.Barrier(clients + 1)
  stop_at = [0.0]

  def client(index: int):
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    start.wait()
    seed = index * 1_000_000
    while time.perf_counter() < stop_at[0]:
      seed += 1
      body = rest_api.dumps(
        {
          "signature_name": "generate",
          "instances": [{"text": CAPTION, "seed": seed}],
        }
      )
      began = time.perf_counter()
      try:
        connection.request(
          "POST",
          "/v1/models/sdn:predict",
          body,
          {"Content-Type": "application/json"},
        )
        reply = connection.getresponse()
        answer = reply.read()
        json.loads(answer)  # Clients parse what they get: part of the cost.
        ok = reply.status == 200
      except (OSError, http.client.HTTPException, ValueError):
        ok = False
        connection.close()
      if ok:
        latencies[index].append(time.perf_counter() - began)
      else:
        errors[index] += 1
    connection.close()

  threads = [
    threading.Thread(target=client, args=(i,), daemon=True)
    for i in range(clients)
  ]
  for thread in threads:
    thread.start()
  stop_at[0] = time.perf_counter() + duration_s
  began = time.perf_counter()
  start.wait()
  for thread in threads:
    thread.join()
  elapsed = time.perf_counter() - began
  done = [s for per_client in latencies for s in per_client]
  result = {
    "clients": clients,
    "requests": len(done),
    "errors": sum(errors),
    "requests_per_second": len(done) / elapsed,
  }
  if done:
    result.update(_percentiles(done))
  return result


def _start_server(base_path: str, folder: str):
  """`python -m sdn_tf.serve` on a free port; (process, host:port)."""
  out_path = os.path.join(folder, "serve.out")
  with (
    open(out_path, "w") as out,
    open(os.path.join(folder, "serve.log"), "w") as log,
  ):
    process = subprocess.Popen(
      [
        sys.executable,
        "-m",
        "sdn_tf.serve",
        f"--model_base_path={base_path}",
        "--port=0",
      ],
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      stdout=out,
      stderr=log,
    )
  deadline = time.monotonic() + _START_TIMEOUT_S
  while time.monotonic() < deadline and process.poll() is None:
    with open(out_path) as f:
      found = re.search(r"http://(127\.0\.0\.1:\d+)/", f.read())
    if found:
      return process, found.group(1)
    time.sleep(0.2)
  process.kill()
  raise cli.UsageError(
    f"the server did not start; its log is in {folder}", flag="model_dir"
  )


def run(model_dir: str) -> dict:
  path = loading.resolve_model_dir(model_dir)
  batch_sizes = _positive_ints(_BATCH_SIZES)
  clients = _positive_ints(_CLIENTS)
  result = {
    "model_dir": path,
    "caption": CAPTION,
    "in_process": in_process(path, batch_sizes),
  }
  process = None
  address = _SERVER.value
  if not address:
    if not os.path.basename(path).isdigit():
      raise cli.UsageError(
        f"{path} is not a numbered version of an export root, which the "
        f"server needs; or give --server",
        flag="model_dir",
      )
    folder = tempfile.mkdtemp(prefix="sdn_benchmark_serving_")
    process, address = _start_server(os.path.dirname(path), folder)
  try:
    rest_client.model_status(address, "sdn")  # Up, and has the model.
    result["rest"] = {
      "server": _SERVER.value or "sdn_tf.serve (local)",
      "loads": [_load(address, n, _DURATION_S.value) for n in clients],
    }
  finally:
    if process is not None:
      process.terminate()
      process.wait()
  return result


def _positive_ints(flag) -> List[int]:
  try:
    values = [int(v) for v in flag.value]
  except ValueError:
    values = []
  if not values or min(values) < 1:
    raise cli.UsageError(
      f"give positive integers, got {','.join(flag.value)}", flag=flag.name
    )
  return values


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}", _PROG)
  result = cli.run_reporting_user_errors(run, _MODEL_DIR.value, prog=_PROG)
  print(json.dumps(result), flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser(_PROG))
