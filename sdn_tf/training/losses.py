"""SDN's distillation losses (docs/METHOD.md, "Stage I", "Stage II", "Diverse").

Every function returns *per-example* losses (shape [batch]) so that the
trainer can average them over the global batch with
`tf.nn.compute_average_loss`, and per-point terms for TensorBoard.

  Stage I:  L_I  = sum_p a_p * mean|G_p(e, z) - S_p(x)|
  Stage II: L_II = sum_p b_p * mean|S_p(G(e, z)) - S_p(x)|

Both are the same weighted multi-level distance; only what is compared
differs, so one function computes it. The optional per-point normalisation
divides each term by a stop-gradient running mean of mean|S_p(x)|, so that
points whose activations are large (deep VGG layers, unscaled) do not drown
the others.
"""

from typing import Dict
from typing import Mapping
from typing import Optional
from typing import Tuple
from typing import Union

import keras
import tensorflow as tf

from sdn_tf.training import DISTANCES


def point_distance(
  predicted: tf.Tensor, target: tf.Tensor, distance: str = "l1"
) -> tf.Tensor:
  """Per-example mean absolute (l1) or squared (l2) difference: [batch]."""
  diff = tf.cast(predicted, tf.float32) - tf.cast(target, tf.float32)
  if distance == "l1":
    elementwise = tf.abs(diff)
  elif distance == "l2":
    elementwise = tf.square(diff)
  else:
    raise ValueError(
      f"unknown distance {distance!r}; expected one of {DISTANCES}"
    )
  return tf.reduce_mean(
    tf.reshape(elementwise, [tf.shape(diff)[0], -1]), axis=1
  )


def multi_level_loss(
  predicted: Mapping[str, tf.Tensor],
  target: Mapping[str, tf.Tensor],
  weights: Mapping[str, float],
  distance: Union[str, Mapping[str, str]] = "l1",
  scales: Optional[Mapping[str, tf.Tensor]] = None,
) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
  """sum_p w_p * d_p(predicted_p / scale_p, target_p / scale_p), per example.

  Args:
    predicted: activations to train, by mirror point name.
    target: the activations they must match, by the same names.
    weights: the points to use and their weights.
    distance: "l1" or "l2", for every point or by point name.
    scales: optional stop-gradient scale per point: the distance is taken
      in units of it (an l1 term is divided by it, an l2 term by its
      square), so a term does not depend on its activations' magnitude.

  Returns:
    (total [batch], {point: unweighted, unscaled per-example distance}).
  """
  total = 0.0
  terms = {}
  for name, weight in weights.items():
    kind = distance if isinstance(distance, str) else distance[name]
    term = point_distance(predicted[name], target[name], kind)
    terms[name] = term
    if scales is not None:
      power = 2.0 if kind == "l2" else 1.0
      term = term / scales[name] ** power
    total += weight * term
  return total, terms


def min_over_samples(
  per_sample: tf.Tensor, num_samples: int, mean_weight: float = 0.0
) -> tf.Tensor:
  """The diverse loss: min over each caption's K noise samples.

  Args:
    per_sample: [batch * K] losses, the K samples of one caption adjacent
      (as `tf.repeat(..., K, axis=0)` lays them out).
    num_samples: K; with K = 1 the loss is unchanged (plain SDN).
    mean_weight: weight of the mean over the K samples, added so that
      samples that are never the best still get a gradient.

  Returns:
    [batch] losses.
  """
  if num_samples == 1:
    return per_sample
  grouped = tf.reshape(per_sample, [-1, num_samples])
  return tf.reduce_min(grouped, axis=1) + mean_weight * tf.reduce_mean(
    grouped, axis=1
  )


class RunningScale(keras.layers.Layer):
  """Stop-gradient running mean of mean|S_p(x)| for each mirror point.

  Its variables are checkpointed with the model, so a resumed run keeps its
  normalisation. Under a distribution strategy each replica's update is
  averaged (aggregation "mean").
  """

  def __init__(self, point_names, momentum: float = 0.99, **kwargs):
    super().__init__(**kwargs)
    self.point_names = tuple(point_names)
    self.momentum = momentum
    # Attributes, not a dict: Keras 3 leaves dict items out of checkpoints.
    for name in self.point_names:
      setattr(
        self,
        f"{name}_mean",
        self.add_weight(
          shape=(),
          initializer="zeros",
          trainable=False,
          aggregation="mean",
          name=f"{name}_mean",
        ),
      )
    self.count = self.add_weight(
      shape=(),
      initializer="zeros",
      trainable=False,
      aggregation="mean",
      name="count",
    )

  def mean_of(self, name: str):
    """The running-mean variable of point `name`."""
    return getattr(self, f"{name}_mean")

  def blend(
    self, teacher_activations: Mapping[str, tf.Tensor]
  ) -> Dict[str, tf.Tensor]:
    """The running means with a batch folded in (no assignment).

    Pure, so it can run inside an XLA-compiled step; `assign` stores the
    result afterwards. The first batch sets the means; later ones move them
    by (1 - momentum). The values are stop-gradient and > 0.
    """
    momentum = tf.where(self.count > 0, self.momentum, 0.0)
    replica = tf.distribute.get_replica_context()
    blended = {}
    for name in self.point_names:
      batch_mean = tf.reduce_mean(
        tf.abs(tf.cast(tf.stop_gradient(teacher_activations[name]), tf.float32))
      )
      if replica is not None and replica.num_replicas_in_sync > 1:
        # The global batch's mean, as one device would see it (every
        # replica's batch is the same size).
        batch_mean = replica.all_reduce(tf.distribute.ReduceOp.MEAN, batch_mean)
      new = momentum * self.mean_of(name) + (1.0 - momentum) * batch_mean
      blended[name] = tf.maximum(tf.stop_gradient(new), 1e-6)
    return blended

  def assign(self, blended: Mapping[str, tf.Tensor]) -> None:
    """Stores the result of `blend`."""
    for name in self.point_names:
      self.mean_of(name).assign(blended[name])
    self.count.assign_add(1.0)

  def update(
    self, teacher_activations: Mapping[str, tf.Tensor]
  ) -> Dict[str, tf.Tensor]:
    """`blend` then `assign`; returns the scale of each point."""
    blended = self.blend(teacher_activations)
    self.assign(blended)
    return blended

  def get_config(self):
    config = super().get_config()
    config.update(point_names=list(self.point_names), momentum=self.momentum)
    return config
