"""TensorFlow's `saved_model_cli`, with TF Text's ops registered.

`saved_model_cli show` reads an export as it is. `saved_model_cli run` must
execute the tokeniser, whose ops (NormalizeUTF8, ...) live in TF Text, which
the stock tool never imports (tensorflow/tensorflow#52240), so it fails
with "Op type not registered". The same command through this module works:

  python -m sdn_tf.serving.saved_model_cli run --dir <export>/<version> \\
    --tag_set serve --signature_def serving_default \\
    --input_exprs 'text=["a large red circle on the left"]'
"""

import sys

from tensorflow.python.tools import saved_model_cli
import tensorflow_text  # noqa: F401  # registers the ops the graph uses


def main() -> int:
  return saved_model_cli.main() or 0


if __name__ == "__main__":
  sys.exit(main())
