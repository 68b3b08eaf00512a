"""Serves an exported model over TF Serving's REST API.

  python -m sdn_tf.serve --model_base_path=runs/shapes/export --port=8501

Serves the newest complete version under `--model_base_path` (TF Serving's
layout, `<export>/<version>/`) as `--model_name`, and picks up a new version
when training or `sdn_tf.export` writes one. `sdn_tf.serving.rest_server`
lists the endpoints; a demo page is at `/`. Once listening it prints
`Serving <name> at http://HOST:PORT/` on stdout (`--port=0`: a free port).
"""

import signal
from typing import List

from absl import app
from absl import flags

from sdn_tf import cli
from sdn_tf.serving import rest_server

_PROG = "serve"

_MODEL_BASE_PATH = flags.DEFINE_string(
  "model_base_path",
  None,
  "Folder of numbered SavedModel versions (<workdir>/export).",
)
_MODEL_NAME = flags.DEFINE_string(
  "model_name", "sdn", "Name in the API's paths: /v1/models/<name>."
)
_HOST = flags.DEFINE_string(
  "host",
  "127.0.0.1",
  "Address to listen on; the API has no authentication, so widen this "
  "(0.0.0.0) only behind something that guards access.",
)
_PORT = flags.DEFINE_integer("port", 8501, "Port; 0 picks a free one.")
_POLL_INTERVAL_S = flags.DEFINE_float(
  "poll_interval_s", 2.0, "Seconds between looks for a new version."
)
_NUM_VERSIONS = flags.DEFINE_integer(
  "num_versions", 1, "How many of the newest versions to serve."
)
_MAX_BODY_BYTES = flags.DEFINE_integer(
  "max_body_bytes",
  rest_server.MAX_BODY_BYTES,
  "Largest request body accepted; larger ones get 413.",
)
_MAX_BATCH_SIZE = flags.DEFINE_integer(
  "max_batch_size",
  rest_server.MAX_BATCH_SIZE,
  "Most instances in one predict request; more get 400.",
)
_MAX_CONCURRENT_PREDICTS = flags.DEFINE_integer(
  "max_concurrent_predicts",
  2,
  "Model calls run at once; further requests wait their turn.",
)


def _stop(signum, frame):
  del signum, frame
  raise KeyboardInterrupt  # rest_server.serve stops cleanly on it.


def main(argv: List[str]):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}", _PROG)
  server = cli.run_reporting_user_errors(
    rest_server.make_server,
    _MODEL_BASE_PATH.value,
    model_name=_MODEL_NAME.value,
    host=_HOST.value,
    port=_PORT.value,
    poll_interval_s=_POLL_INTERVAL_S.value,
    num_versions=_NUM_VERSIONS.value,
    max_body_bytes=_MAX_BODY_BYTES.value,
    max_batch_size=_MAX_BATCH_SIZE.value,
    max_concurrent_predicts=_MAX_CONCURRENT_PREDICTS.value,
    prog=_PROG,
  )
  signal.signal(signal.SIGTERM, _stop)
  print(f"Serving {_MODEL_NAME.value} at {rest_server.url(server)}", flush=True)
  rest_server.serve(server)


if __name__ == "__main__":
  flags.mark_flag_as_required("model_base_path")
  app.run(main, flags_parser=cli.flags_parser(_PROG))
