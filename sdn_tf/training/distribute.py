"""tf.distribute strategies by name (`--strategy`, `--num_cpu_devices`)."""

import json
import os

from absl import logging
import tensorflow as tf

from sdn_tf.training import STRATEGIES


def split_cpu(num_devices: int) -> None:
  """Splits the CPU into `num_devices` logical devices.

  Must run before TensorFlow initialises its devices (before the first op);
  a later call that asks for a different split is an error.
  """
  if num_devices <= 1:
    return
  cpus = tf.config.list_physical_devices("CPU")
  wanted = [tf.config.LogicalDeviceConfiguration()] * num_devices
  try:
    tf.config.set_logical_device_configuration(cpus[0], wanted)
  except RuntimeError as e:
    current = tf.config.list_logical_devices("CPU")
    if len(current) != num_devices:
      raise ValueError(
        f"--num_cpu_devices={num_devices}: TensorFlow already started with "
        f"{len(current)} CPU device(s); set it before any TF op"
      ) from e


def _replica_devices(num_cpu_devices: int):
  gpus = tf.config.list_logical_devices("GPU")
  if gpus:
    return [d.name for d in gpus]
  return [d.name for d in tf.config.list_logical_devices("CPU")][
    : max(num_cpu_devices, 1)
  ]


def get_strategy(
  name: str, num_cpu_devices: int = 1, tpu_address: str = ""
) -> tf.distribute.Strategy:
  """Maps a strategy name to a `tf.distribute.Strategy`.

  Raises:
    ValueError: naming the flag, for an unknown name or an impossible
      combination.
  """
  if name not in STRATEGIES:
    raise ValueError(f"--strategy={name}: expected one of {STRATEGIES}")
  if name == "multi_worker_mirrored":
    if "TF_CONFIG" not in os.environ:
      logging.warning(
        "--strategy=multi_worker_mirrored without TF_CONFIG: "
        "running as a single worker"
      )
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
      tpu=tpu_address or None
    )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  split_cpu(num_cpu_devices)
  devices = _replica_devices(num_cpu_devices)
  if name == "default":
    if num_cpu_devices > 1:
      raise ValueError("--num_cpu_devices > 1 needs --strategy=mirrored")
    return tf.distribute.get_strategy()
  if name == "one_device":
    return tf.distribute.OneDeviceStrategy(devices[0])
  return tf.distribute.MirroredStrategy(devices)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True on the worker that writes checkpoints, summaries and exports."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not os.environ.get("TF_CONFIG"):
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  if task_type in (None, "chief"):
    return True
  cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
  return task_type == "worker" and task_id == 0 and "chief" not in cluster
