"""TF Serving's warm-up file: `assets.extra/tf_serving_warmup_requests`.

TF Serving replays these `PredictionLog` records when it loads a version,
before it takes traffic, so the first user's request does not pay for
graph optimisation and memory allocation. One request per signature, with
a few rows, so every function the server will run has run once.
"""

from typing import Dict
from typing import List

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from sdn_tf.serving.versions import EXTRA_DIR
from sdn_tf.utils import files

WARMUP_FILE = "tf_serving_warmup_requests"
# Phrasings a user might send; the words need not be in the vocabulary.
WARMUP_CAPTIONS = (
  "a large red circle on the left",
  "a small blue square at the top over a gray background",
  "",
  "a bird with a bright yellow crown and black wings",
)


def warmup_inputs(
  input_key: str, embedding_dim: int = 0
) -> Dict[str, Dict[str, np.ndarray]]:
  """The inputs of one warm-up request per signature, by signature name."""
  rows = len(WARMUP_CAPTIONS)
  if input_key == "text":
    inputs = {"text": np.array(WARMUP_CAPTIONS, dtype=object)}
  else:
    inputs = {"embedding": np.zeros((rows, embedding_dim), np.float32)}
  seeded = dict(inputs, seed=np.arange(rows, dtype=np.int64))
  return {"serving_default": inputs, "generate": seeded}


def prediction_logs(
  requests: Dict[str, Dict[str, np.ndarray]], model_name: str = "sdn"
) -> List[prediction_log_pb2.PredictionLog]:
  logs = []
  for signature, inputs in requests.items():
    request = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
    )
    for key, value in inputs.items():
      request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    logs.append(
      prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
      )
    )
  return logs


def write_warmup_requests(
  saved_model_dir: str, input_key: str, embedding_dim: int = 0
) -> str:
  """Writes the warm-up file into `saved_model_dir`; returns its path."""
  extra = files.join(saved_model_dir, EXTRA_DIR)
  files.makedirs(extra)
  path = files.join(extra, WARMUP_FILE)
  with tf.io.TFRecordWriter(path) as writer:
    for log in prediction_logs(warmup_inputs(input_key, embedding_dim)):
      writer.write(log.SerializeToString())
  return path


def read_warmup_requests(saved_model_dir: str):
  """(signature name, {input: numpy array}) of each recorded request."""
  path = files.join(saved_model_dir, EXTRA_DIR, WARMUP_FILE)
  requests = []
  for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
    log = prediction_log_pb2.PredictionLog.FromString(record)
    request = log.predict_log.request
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    requests.append((request.model_spec.signature_name, inputs))
  return requests
