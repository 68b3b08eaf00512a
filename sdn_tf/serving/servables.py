"""The loaded versions of one exported model, kept up to date on disk.

TF Serving's layout and default policy: `<model_base_path>/<version>/`
holds one SavedModel each; the newest `num_versions` complete ones are
served (TF Serving's `latest` policy, one version by default); a new version
is loaded when it appears (the folder is polled, like TF Serving's
--file_system_poll_wait_seconds), and only then are older ones unloaded. A
version that fails to load is reported in the status and not retried; the
newest version that did load keeps serving.
"""

import dataclasses
import functools
import threading
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional

from absl import logging
import numpy as np

from sdn_tf.serving import rest_api
from sdn_tf.serving import versions as versions_lib
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError

# TF Serving's ModelVersionStatus states.
LOADING = "LOADING"
AVAILABLE = "AVAILABLE"
END = "END"


@dataclasses.dataclass(frozen=True)
class Signature:
  function: Any  # The loaded ConcreteFunction.
  inputs: Dict[str, rest_api.TensorSpec]


class LoadedVersion:
  """One loaded SavedModel version: its signatures, ready to call."""

  def __init__(self, version: int, path: str, model: Any):
    self.version = version
    self.path = path
    self._model = model  # Owns the variables the signatures read.
    self.signatures = {
      name: Signature(function, _input_specs(function))
      for name, function in model.signatures.items()
    }

  def run(
    self, signature_name: str, inputs: Mapping[str, np.ndarray]
  ) -> Dict[str, np.ndarray]:
    """The outputs of a signature (tf.errors propagate)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    signature = self.signatures[signature_name]
    tensors = {
      name: tf.constant(inputs[name], tf.as_dtype(spec.dtype))
      for name, spec in signature.inputs.items()
    }
    outputs = signature.function(**tensors)
    return {name: value.numpy() for name, value in outputs.items()}

  @functools.cached_property
  def signature_defs(self) -> Dict[str, Any]:
    """The SignatureDefs of saved_model.pb as TF Serving prints them."""
    # pylint: disable=g-import-not-at-top
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    # pylint: enable=g-import-not-at-top
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(
      files.read_bytes(files.join(self.path, "saved_model.pb"))
    )
    signature_defs = saved_model.meta_graphs[0].signature_def
    return {
      name: json_format.MessageToDict(
        signature_defs[name],
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
      )
      for name in sorted(signature_defs)
    }


def _input_specs(function) -> Dict[str, rest_api.TensorSpec]:
  specs = function.structured_input_signature[1]
  return {
    # tf.string's name is "string", as rest_api.TensorSpec wants.
    name: rest_api.TensorSpec(spec.dtype.name, tuple(spec.shape.as_list()))
    for name, spec in specs.items()
  }


def _warm_up(loaded: LoadedVersion) -> None:
  """Runs the version's TF Serving warm-up requests (assets.extra), or,
  for an export without them, every signature once on a batch of one: the
  first call's one-time costs are paid before the version takes requests,
  and a model that cannot run fails to load instead of failing requests."""
  from sdn_tf.serving import warmup  # pylint: disable=g-import-not-at-top

  if files.exists(
    files.join(loaded.path, versions_lib.EXTRA_DIR, warmup.WARMUP_FILE)
  ):
    for name, inputs in warmup.read_warmup_requests(loaded.path):
      loaded.run(name or rest_api.DEFAULT_SIGNATURE, inputs)
    return
  for name, signature in loaded.signatures.items():
    inputs = {}
    for input_name, spec in signature.inputs.items():
      shape = tuple(1 if d is None else d for d in spec.shape)
      dtype = object if spec.dtype == "string" else spec.dtype
      inputs[input_name] = np.full(
        shape, b"" if spec.dtype == "string" else 0, dtype
      )
    loaded.run(name, inputs)


def load_version(path: str, version: int) -> LoadedVersion:
  """Loads and warms up the SavedModel in `path`."""
  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  # registers its ops for the graph

  # pylint: enable=g-import-not-at-top,unused-import
  loaded = LoadedVersion(version, path, tf.saved_model.load(path))
  _warm_up(loaded)
  return loaded


def check_base_path(base_path: str) -> None:
  """Raises a UsageError (naming --model_base_path) unless `base_path` is a
  folder that holds, or will hold, numbered SavedModel versions."""
  if not base_path:
    raise UsageError("required", flag="model_base_path")
  if not files.isdir(base_path):
    raise UsageError(f"{base_path} is not a directory", flag="model_base_path")
  if workdir_lib.holds_saved_model(base_path):
    raise UsageError(
      f"{base_path} is a SavedModel itself; give the folder that holds "
      f"its numbered versions (e.g. <workdir>/export)",
      flag="model_base_path",
    )


@dataclasses.dataclass
class _State:
  state: str
  error_code: str = "OK"
  error_message: str = ""


class ModelVersions:
  """The served versions under a model base path (thread-safe)."""

  def __init__(
    self,
    base_path: str,
    num_versions: int = 1,
    loader: Callable[[str, int], LoadedVersion] = load_version,
  ):
    if num_versions < 1:
      raise UsageError(
        f"must be at least 1, got {num_versions}", flag="num_versions"
      )
    self.base_path = base_path
    self._num_versions = num_versions
    self._loader = loader
    self._lock = threading.Lock()  # Guards _loaded and _states.
    self._refresh_lock = threading.Lock()  # One refresh at a time.
    self._loaded: Dict[int, LoadedVersion] = {}
    self._states: Dict[int, _State] = {}
    self._stop = threading.Event()
    self._poller: Optional[threading.Thread] = None

  def refresh(self) -> None:
    """Loads the newest complete versions, then unloads the others.

    Versions are tried newest first until `num_versions` newer ones are
    loaded, so a version that fails to load leaves the one before it
    serving.
    """
    with self._refresh_lock:
      on_disk = workdir_lib.export_versions(self.base_path, complete_only=True)
      for version in sorted(on_disk, reverse=True):
        with self._lock:
          served = sorted(set(self._loaded) & set(on_disk), reverse=True)
          served = served[: self._num_versions]
          if len(served) == self._num_versions and version < served[-1]:
            break
          state = self._states.get(version)
          if version in self._loaded or (state and state.error_code != "OK"):
            continue  # Loaded, or failed before.
          self._states[version] = _State(LOADING)
        self._load(version)
      if not on_disk:
        return  # Folder emptied or gone: keep serving what is loaded.
      with self._lock:
        keep = sorted(set(self._loaded) & set(on_disk), reverse=True)
        for version in set(self._loaded) - set(keep[: self._num_versions]):
          del self._loaded[version]
          self._states[version] = _State(END)
          logging.info("Unloaded version %d of %s", version, self.base_path)

  def _load(self, version: int) -> None:
    path = files.join(self.base_path, str(version))
    started = time.monotonic()
    try:
      loaded = self._loader(path, version)
    except Exception as e:  # pylint: disable=broad-except
      # A broken version must not take down the server nor its versions.
      logging.exception("Could not load version %d from %s", version, path)
      message = " ".join(f"{type(e).__name__}: {e}".split())
      with self._lock:
        self._states[version] = _State(END, "UNKNOWN", message[:2000])
      return
    with self._lock:
      self._loaded[version] = loaded
      self._states[version] = _State(AVAILABLE)
    logging.info(
      "Loaded version %d from %s in %.1f s",
      version,
      path,
      time.monotonic() - started,
    )

  def get(self, version: Optional[int] = None) -> Optional[LoadedVersion]:
    """The loaded `version`, or the newest loaded one; None if not loaded."""
    with self._lock:
      if version is None:
        return self._loaded[max(self._loaded)] if self._loaded else None
      return self._loaded.get(version)

  def status(self, version: Optional[int] = None) -> List[Dict[str, Any]]:
    """TF Serving's `model_version_status` entries, newest first."""
    with self._lock:
      states = sorted(self._states.items(), reverse=True)
    return [
      {
        "version": str(v),
        "state": s.state,
        "status": {
          "error_code": s.error_code,
          "error_message": s.error_message,
        },
      }
      for v, s in states
      if version is None or v == version
    ]

  def start_polling(self, interval_s: float) -> None:
    """Refreshes every `interval_s` seconds in a daemon thread."""

    def poll():
      while not self._stop.wait(interval_s):
        try:
          self.refresh()
        except Exception:  # pylint: disable=broad-except
          # E.g. the folder unreadable for a moment: try again next time.
          logging.exception("Polling %s failed", self.base_path)

    self._poller = threading.Thread(target=poll, name="poll", daemon=True)
    self._poller.start()

  def stop_polling(self) -> None:
    self._stop.set()
    if self._poller is not None:
      self._poller.join()
