"""The exported SavedModel as a server sees it: ops, tools, inputs, versions.

Every check that loads the export does so in a fresh Python process, the way
TF Serving or a client would meet it, not through objects this process still
holds.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests import tool_runner
from tests.serving import tiny_export

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TIMEOUT_S = 240


def run_python(*args: str, timeout: float = TIMEOUT_S):
  env = dict(os.environ, PYTHONPATH=REPO_ROOT)
  return tool_runner.run_captured([sys.executable, *args], timeout, env=env)


def last_json_line(output: str) -> dict:
  return json.loads(output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> str:
  return tiny_export.export_tiny(str(tmp_path_factory.mktemp("tiny")))


# --- Only ops the server has --------------------------------------------------

LIST_OPS = r"""
import json, sys
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

model = saved_model_pb2.SavedModel()
with open(sys.argv[1] + "/saved_model.pb", "rb") as f:
  model.ParseFromString(f.read())
ops = set()
for graph in model.meta_graphs:
  ops |= {node.op for node in graph.graph_def.node}
  for function in graph.graph_def.library.function:
    ops |= {node.op for node in function.node_def}
core = {op for op in ops if op_def_registry.get(op) is not None}
import tensorflow_text  # registers TF Text's ops, and nothing else's
text = {op for op in ops - core if op_def_registry.get(op) is not None}
print(json.dumps({"ops": sorted(ops), "core": sorted(core),
                  "text": sorted(text)}))
"""


def test_every_op_is_tensorflows_or_tf_texts(exported):
  run = run_python("-c", LIST_OPS, exported)
  assert run.returncode == 0, run.stderr[-3000:]
  found = last_json_line(run.stdout)
  unknown = set(found["ops"]) - set(found["core"]) - set(found["text"])
  assert not unknown, f"ops in neither TensorFlow nor TF Text: {unknown}"
  assert "Conv2D" in found["core"]
  # The tokeniser's normalisation: why the server must link TF Text.
  assert "NormalizeUTF8" in found["text"]


# --- Standard tools -----------------------------------------------------------


def saved_model_cli(*args: str):
  tool = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  return tool_runner.run_captured([tool, *args], TIMEOUT_S)


def test_saved_model_cli_shows_both_signatures(exported):
  run = saved_model_cli("show", "--dir", exported, "--all")
  assert run.returncode == 0, run.stderr[-3000:]
  shown = run.stdout
  for signature in ("serving_default", "generate"):
    block = shown.split(f"signature_def['{signature}']:")[1].split(
      "signature_def["
    )[0]
    assert "inputs['text']" in block and "dtype: DT_STRING" in block
    assert "outputs['image']" in block and "dtype: DT_UINT8" in block
    assert "shape: (-1, 32, 32, 3)" in block
    assert "outputs['image_png_bytes']" in block
  generate = shown.split("signature_def['generate']:")[1]
  assert "inputs['seed']" in generate and "dtype: DT_INT64" in generate


def test_saved_model_cli_run_draws_an_image(exported):
  run = run_python(
    "-m",
    "sdn_tf.serving.saved_model_cli",
    "run",
    "--dir",
    exported,
    "--tag_set",
    "serve",
    "--signature_def",
    "serving_default",
    "--input_exprs",
    'text=["a large red circle on the left"]',
  )
  assert run.returncode == 0, run.stderr[-3000:]
  assert "Result for output key image:" in run.stdout
  assert "Result for output key image_png_bytes:" in run.stdout
  assert "\\x89PNG" in run.stdout


# --- Any string in, an image out ----------------------------------------------

ODD_INPUTS = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text

model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
generate = model.signatures["generate"]
cases = {
  "empty": [b""],
  "whitespace": [b" \t\n\r "],
  "10k chars": [b"red " * 2500],
  "1M chars": [b"x" * 1_000_000],
  "NUL bytes": [b"a red\x00circle\x00"],
  "not UTF-8": [b"\xff\xfe red \xc3\x28 \xed\xa0\x80"],
  "emoji": ["a red \U0001F426 circle \u200d\U0001F3F3".encode()],
  "unknown words": [b"zyx qwv plorf"],
  "batch of 0": [],
  "batch of 256": [b"a small blue square"] * 256,
}
rng = np.random.default_rng(0)
cases["fuzz"] = [rng.bytes(int(n)) for n in rng.integers(0, 300, size=200)]
report = {}
for name, texts in cases.items():
  text = tf.constant(texts, tf.string, shape=[len(texts)])
  out = serve(text=text)
  seeded = generate(text=text, seed=tf.range(len(texts), dtype=tf.int64))
  pngs = out["image_png_bytes"].numpy()
  report[name] = {
    "shape": out["image"].shape.as_list(),
    "dtype": out["image"].dtype.name,
    "seeded_shape": seeded["image"].shape.as_list(),
    "pngs": len(pngs),
    "all_png": all(p.startswith(b"\x89PNG") for p in pngs),
  }
try:
  serve(text=tf.constant([b"x"] * 257))
  report["over the limit"] = "no error"
except tf.errors.InvalidArgumentError as e:
  report["over the limit"] = e.message
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def odd_inputs(exported) -> dict:
  run = run_python("-c", ODD_INPUTS, exported)
  assert run.returncode == 0, run.stderr[-3000:]
  return last_json_line(run.stdout)


@pytest.mark.parametrize(
  "case,rows",
  [
    ("empty", 1),
    ("whitespace", 1),
    ("10k chars", 1),
    ("1M chars", 1),
    ("NUL bytes", 1),
    ("not UTF-8", 1),
    ("emoji", 1),
    ("unknown words", 1),
    ("batch of 0", 0),
    ("batch of 256", 256),
    ("fuzz", 200),
  ],
)
def test_any_string_gives_an_image(odd_inputs, case, rows):
  result = odd_inputs[case]
  assert result["shape"] == [rows, 32, 32, 3]
  assert result["seeded_shape"] == [rows, 32, 32, 3]
  assert result["dtype"] == "uint8"
  assert result["pngs"] == rows and result["all_png"]


def test_a_batch_over_the_limit_is_refused_naming_it(odd_inputs):
  from sdn_tf.serving import export_lib  # pylint: disable=g-import-not-at-top

  message = odd_inputs["over the limit"]
  assert f"at most {export_lib.MAX_BATCH} captions per request" in message


# --- Warm-up ------------------------------------------------------------------

REPLAY_WARMUP = r"""
import json, sys
import tensorflow as tf
import tensorflow_text
from sdn_tf.serving import warmup

model = tf.saved_model.load(sys.argv[1])
replayed = []
for signature, inputs in warmup.read_warmup_requests(sys.argv[1]):
  out = model.signatures[signature](
    **{k: tf.constant(v) for k, v in inputs.items()})
  replayed.append([signature, sorted(inputs), out["image"].shape.as_list()])
print(json.dumps(replayed))
"""


def test_warmup_requests_replay_against_the_model(exported):
  path = os.path.join(exported, "assets.extra", "tf_serving_warmup_requests")
  assert os.path.getsize(path) > 0
  run = run_python("-c", REPLAY_WARMUP, exported)
  assert run.returncode == 0, run.stderr[-3000:]
  replayed = last_json_line(run.stdout)
  assert [r[0] for r in replayed] == ["serving_default", "generate"]
  assert replayed[0][1] == ["text"] and replayed[1][1] == ["seed", "text"]
  for _, _, shape in replayed:
    assert shape[1:] == [32, 32, 3] and shape[0] > 0


# --- Versions -----------------------------------------------------------------


def versions_in(root: str):
  return sorted(int(n) for n in os.listdir(root) if n.isdigit())


def test_the_same_weights_are_not_exported_twice(tmp_path):
  # pylint: disable=g-import-not-at-top
  from sdn_tf.serving import export_lib
  from sdn_tf.training import builders

  # pylint: enable=g-import-not-at-top
  config = tiny_export.tiny_config()
  tiny_export.write_vocab(str(tmp_path / "data"))
  generator = builders.make_generator(config, str(tmp_path / "data"))
  generator.build_for(1)
  root = str(tmp_path / "export")
  first = export_lib.export_generator(
    generator, config, str(tmp_path / "data"), root
  )
  again = export_lib.export_generator(
    generator, config, str(tmp_path / "data"), root
  )
  assert first == again == os.path.join(root, "1")
  # Changed weights are a new version; keep_exports=1 leaves only it.
  generator.student.weights[0].assign(generator.student.weights[0] + 1.0)
  changed = export_lib.export_generator(
    generator, config, str(tmp_path / "data"), root, keep_exports=1
  )
  assert changed == os.path.join(root, "2")
  assert versions_in(root) == [2]


def test_keep_exports_keeps_the_newest(tmp_path):
  for _ in range(3):
    tiny_export.export_tiny(str(tmp_path))
  root = str(tmp_path / "export")
  from sdn_tf.serving import versions  # pylint: disable=g-import-not-at-top

  versions.prune(root, 2)
  assert versions_in(root) == [2, 3]


def test_concurrent_exporters_take_different_versions(tmp_path):
  script = os.path.join(REPO_ROOT, "tests", "serving", "tiny_export.py")
  env = dict(os.environ, PYTHONPATH=REPO_ROOT)
  processes = [
    subprocess.Popen(
      [sys.executable, script, str(tmp_path)],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for _ in range(2)
  ]
  paths = []
  for process in processes:
    out, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, err[-3000:]
    paths.append(out.strip().splitlines()[-1])
  root = str(tmp_path / "export")
  assert sorted(paths) == [os.path.join(root, "1"), os.path.join(root, "2")]
  # Nothing half-written is left, and both versions are whole SavedModels.
  assert sorted(os.listdir(root)) == ["1", "2"]
  for path in paths:
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isfile(os.path.join(path, "variables", "variables.index"))


def test_a_failed_export_leaves_no_version_and_no_partial(
  tmp_path, monkeypatch
):
  from sdn_tf.serving import warmup  # pylint: disable=g-import-not-at-top

  def fail(*args, **kwargs):
    raise OSError("disk full (injected)")

  monkeypatch.setattr(warmup, "write_warmup_requests", fail)
  with pytest.raises(OSError, match="injected"):
    tiny_export.export_tiny(str(tmp_path))
  assert os.listdir(tmp_path / "export") == []


def test_partials_of_dead_exporters_are_cleared(tmp_path):
  from sdn_tf.serving import versions  # pylint: disable=g-import-not-at-top

  root = tmp_path / "export"
  root.mkdir()
  dead = subprocess.run(
    [sys.executable, "-c", "import os; print(os.getpid())"],
    capture_output=True,
    text=True,
    check=True,
  )
  host = socket.gethostname()
  stale = root / f".partial-{host}-{dead.stdout.strip()}-abc"
  live = root / f".partial-{host}-{os.getpid()}-def"
  other_host = root / ".partial-elsewhere-1-ghi"
  for folder in (stale, live, other_host):
    folder.mkdir()
  versions.remove_stale_partials(str(root))
  assert sorted(os.listdir(root)) == sorted([live.name, other_host.name])


# --- Mixed precision ----------------------------------------------------------


def test_a_mixed_precision_generator_exports_uint8_images(tmp_path):
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf

  from sdn_tf.serving import export_lib
  from sdn_tf.training import builders

  # pylint: enable=g-import-not-at-top
  config = tiny_export.tiny_config()
  data_dir = str(tmp_path / "data")
  tiny_export.write_vocab(data_dir)
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    generator = builders.make_generator(config, data_dir)
    generator.build_for(1)
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert generator.student.compute_dtype == "bfloat16"
  path = export_lib.export_generator(
    generator, config, data_dir, str(tmp_path / "export")
  )
  loaded = tf.saved_model.load(path)
  image = loaded.signatures["serving_default"](text=tf.constant(["a red"]))
  assert image["image"].dtype == tf.uint8
  assert np.asarray(image["image"]).shape == (1, 32, 32, 3)
