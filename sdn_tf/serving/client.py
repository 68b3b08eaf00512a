"""Draws captions through a model server; writes one PNG per caption.

  python -m sdn_tf.serving.client --server=localhost:8501 --model=sdn \
      --text="a red circle" [--text=...] [--seed=3] \
      [--signature=serving_default|generate] [--format=row|columnar] \
      --out=out.png
  python -m sdn_tf.serving.client --grpc=localhost:8500 --text=... --out=...

REST (TF Serving's predict API, or `sdn_tf.serve`) by default; gRPC
(PredictionService/Predict, TF Serving's --port) with --grpc. One caption
writes --out; several write out_0.png, out_1.png, ... The paths are printed,
one a line. --seed asks for the `generate` signature (the same seed for
every caption); without it `serving_default` draws with seed 0. No answer,
a timeout, an HTTP or gRPC error, or an unknown model: one line on stderr,
exit status 2.
"""

import os
from typing import List
from typing import Optional
from typing import Sequence

from absl import app
from absl import flags

from sdn_tf import cli
from sdn_tf.serving import rest_client
from sdn_tf.utils.errors import UsageError

_PROG = "client"
SIGNATURES = ("serving_default", "generate")


def define_flags() -> None:
  """The CLI's flags, defined only when it runs: tests import this module
  next to others whose flags share names (--seed, --text)."""
  global \
    _SERVER, \
    _GRPC, \
    _MODEL, \
    _VERSION, \
    _TEXT, \
    _SEED, \
    _SIGNATURE, \
    _FORMAT, \
    _OUT, \
    _TIMEOUT
  _SERVER = flags.DEFINE_string(
    "server", "localhost:8501", "REST API: host:port (or http://host:port)."
  )
  _GRPC = flags.DEFINE_string(
    "grpc", None, "gRPC host:port; when given, used instead of --server."
  )
  _MODEL = flags.DEFINE_string("model", "sdn", "Model name on the server.")
  _VERSION = flags.DEFINE_integer(
    "version", None, "Model version; default: the newest the server has."
  )
  _TEXT = flags.DEFINE_multi_string(
    "text", None, "A caption; repeat the flag for several."
  )
  _SEED = flags.DEFINE_integer(
    "seed", None, "Noise seed (uses the generate signature)."
  )
  _SIGNATURE = flags.DEFINE_enum(
    "signature",
    None,
    list(SIGNATURES),
    "Default: generate with --seed, else serving_default.",
  )
  _FORMAT = flags.DEFINE_enum(
    "format", "row", ["row", "columnar"], "REST request format."
  )
  _OUT = flags.DEFINE_string(
    "out", "out.png", "PNG to write (out_0.png, ... for several captions)."
  )
  _TIMEOUT = flags.DEFINE_float(
    "timeout", 30.0, "Seconds to wait for an answer."
  )


def out_paths(out: str, count: int) -> List[str]:
  """`out` for one image; out_0.png, out_1.png, ... for several."""
  if count == 1:
    return [out]
  stem, ext = os.path.splitext(out)
  return [f"{stem}_{i}{ext or '.png'}" for i in range(count)]


def choose_signature(signature: Optional[str], seed: Optional[int]) -> str:
  if signature is None:
    return "generate" if seed is not None else "serving_default"
  if signature == "serving_default" and seed is not None:
    raise UsageError(
      "serving_default draws with seed 0; use --signature=generate",
      flag="seed",
    )
  return signature


def _import_tensorflow_quietly() -> None:
  """Imports TensorFlow with its native start-up lines (CUDA, oneDNN) sent
  to /dev/null: tensorflow-serving-api's protos import it, and those lines,
  which TF_CPP_MIN_LOG_LEVEL does not hold back, would bury the client's
  one line. The client runs no TensorFlow op."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  saved = os.dup(2)
  # pylint: disable=g-import-not-at-top,unused-import
  try:
    with open(os.devnull, "w") as devnull:
      os.dup2(devnull.fileno(), 2)
      import tensorflow  # noqa: F401  # loaded here, used by grpc_client
  finally:
    os.dup2(saved, 2)
    os.close(saved)
  # pylint: enable=g-import-not-at-top,unused-import


def draw(
  captions: Sequence[str],
  out: str,
  server: str = "localhost:8501",
  grpc_target: Optional[str] = None,
  model: str = "sdn",
  version: Optional[int] = None,
  seed: Optional[int] = None,
  signature: Optional[str] = None,
  columnar: bool = False,
  timeout: float = 30.0,
) -> List[str]:
  """Draws `captions` on the server, writes the PNGs; returns their paths."""
  if not captions:
    raise UsageError("give at least one caption", flag="text")
  if not out:
    raise UsageError("required", flag="out")
  if timeout <= 0:
    raise UsageError(f"must be positive, got {timeout}", flag="timeout")
  signature = choose_signature(signature, seed)
  if signature == "generate" and seed is None:
    seed = 0
  inputs = rest_client.caption_inputs(captions, seed)
  if grpc_target:
    _import_tensorflow_quietly()
    # pylint: disable-next=g-import-not-at-top
    from sdn_tf.serving import grpc_client

    outputs = grpc_client.predict(
      grpc_target, model, inputs, signature, version, timeout
    )
    pngs = grpc_client.png_images(outputs)
  else:
    outputs = rest_client.predict(
      server, model, inputs, signature, columnar, version, timeout
    )
    pngs = rest_client.png_images(outputs)
  if len(pngs) != len(captions):
    raise UsageError(
      f"asked for {len(captions)} images, got {len(pngs)}", flag="model"
    )
  paths = out_paths(out, len(pngs))
  try:
    folder = os.path.dirname(out)
    if folder:
      os.makedirs(folder, exist_ok=True)
    for path, png in zip(paths, pngs):
      with open(path, "wb") as f:
        f.write(png)
  except OSError as e:
    raise UsageError(f"cannot write {e.filename}: {e.strerror}", flag="out")
  return paths


def main(argv: List[str]):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}", _PROG)
  paths = cli.run_reporting_user_errors(
    draw,
    _TEXT.value or [],
    _OUT.value,
    server=_SERVER.value,
    grpc_target=_GRPC.value,
    model=_MODEL.value,
    version=_VERSION.value,
    seed=_SEED.value,
    signature=_SIGNATURE.value,
    columnar=_FORMAT.value == "columnar",
    timeout=_TIMEOUT.value,
    prog=_PROG,
  )
  for path in paths:
    print(path)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.flags_parser(_PROG))
