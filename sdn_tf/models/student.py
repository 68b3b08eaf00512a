"""The student: VGG19 mirrored, drawing an image from a caption embedding.

Data flows the teacher's way reversed. Each student layer mirrors one
teacher layer: its output has exactly that layer's shape and it is named
after it with a `_mirror` suffix (`vgg_spec` describes the teacher once; the
layers here are derived from it):

  [e; z] -> fc7_mirror -> fc6_mirror -> block5_pool_mirror (dense, reshape)
  a pool's mirror inputs up-sample 2x; a conv's mirror is a 3x3 conv whose
  filters are those of the teacher layer *below* it (its input), so that the
  data reaches `input_mirror`, the image in the teacher's input space.

Normalisation (plain or conditioned on the text embedding), the up-sampling
method and the fc width are options; the layer-by-layer symmetry is not.

Calibrated outputs (`calibrated_outputs=True`): VGG activations are large
(tens to hundreds, and the caffe image is mean-subtracted BGR) while a
normalised student works in unit scale; learning a x100 gain through Adam's
~lr-sized steps takes thousands of steps. So each mirrored activation is
reported as `x * scale_p` (and the image as `x * scale + shift`), with
per-channel constants measured once on the teacher's activations of real
images (`calibrate`) before training. The data between layers stays in unit
scale; the constants are saved with the model.
"""

from typing import Dict
from typing import Optional
from typing import Sequence

import keras
from keras import layers
from keras import ops
import tensorflow as tf

from sdn_tf.models import NORMALIZATIONS
from sdn_tf.models import UPSAMPLINGS
from sdn_tf.models import vgg_spec


class ConditionalNormalization(layers.Layer):
  """Batch or instance normalisation with an optional text-computed affine.

  With a condition `c`, the scale and shift are `1 + Dense(c)` and
  `Dense(c)` (zero-initialised, so training starts from plain
  normalisation): the caption chooses how every feature map is modulated.
  """

  def __init__(
    self,
    kind: str,
    conditional: bool,
    epsilon: float = 1e-5,
    momentum: float = 0.9,
    **kwargs,
  ):
    super().__init__(**kwargs)
    if kind not in ("batch", "instance"):
      raise ValueError(f"unknown normalisation {kind!r}")
    self.kind = kind
    self.conditional = conditional
    self.epsilon = epsilon
    self.momentum = momentum

  def build(self, x_shape, condition_shape=None):
    channels = x_shape[-1]
    if self.kind == "batch":
      # Keras' layer keeps the moving statistics used at inference. With
      # Keras' 0.99 they still lean on their initial values after a few
      # hundred steps (0.99**300 = 5%): short CPU runs drew badly at
      # inference. 0.9 forgets them within ~50 steps.
      self.norm = layers.BatchNormalization(
        momentum=self.momentum,
        epsilon=self.epsilon,
        center=not self.conditional,
        scale=not self.conditional,
        # Built under a strategy of several replicas, the statistics are
        # the global batch's, so that N replicas train as one device would.
        # Not with one: Keras' synchronised moments (E[x^2] - E[x]^2) are
        # computed differently, and would change single-device runs.
        synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1,
        name="bn",
      )
      self.norm.build(x_shape)
    elif not self.conditional:
      self.gamma = self.add_weight(
        shape=(channels,), initializer="ones", name="gamma"
      )
      self.beta = self.add_weight(
        shape=(channels,), initializer="zeros", name="beta"
      )
    if self.conditional:
      self.to_scale = layers.Dense(
        channels, kernel_initializer="zeros", name="to_scale"
      )
      self.to_shift = layers.Dense(
        channels, kernel_initializer="zeros", name="to_shift"
      )

  def call(self, x, condition=None, training=False):
    if self.kind == "batch":
      x = self.norm(x, training=training)
    else:
      mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
      x = (x - mean) * ops.rsqrt(variance + self.epsilon)
      if not self.conditional:
        x = x * self.gamma + self.beta
    if self.conditional:
      scale = 1.0 + self.to_scale(condition)[:, None, None, :]
      shift = self.to_shift(condition)[:, None, None, :]
      x = x * ops.cast(scale, x.dtype) + ops.cast(shift, x.dtype)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(
      kind=self.kind,
      conditional=self.conditional,
      epsilon=self.epsilon,
      momentum=self.momentum,
    )
    return config


class MirrorConv(layers.Layer):
  """3x3 conv, optional (conditional) normalisation, then ReLU (or linear)."""

  def __init__(
    self,
    filters: int,
    normalization: str = "none",
    conditional: bool = False,
    activation: bool = True,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.filters = filters
    self.normalization = normalization
    self.conditional = conditional
    self.activation = activation
    use_norm = normalization != "none"
    self.conv = layers.Conv2D(
      filters, 3, padding="same", use_bias=not use_norm, name="conv"
    )
    self.norm = (
      ConditionalNormalization(normalization, conditional, name="norm")
      if use_norm
      else None
    )

  def call(self, x, condition=None, training=False):
    x = self.conv(x)
    if self.norm is not None:
      x = self.norm(x, condition, training=training)
    return ops.relu(x) if self.activation else x

  def get_config(self):
    config = super().get_config()
    config.update(
      filters=self.filters,
      normalization=self.normalization,
      conditional=self.conditional,
      activation=self.activation,
    )
    return config


class Student(keras.Model):
  """The generator G(e, z): returns the image and all 22 mirror activations.

  Calling it gives a dict: `"image"` (the drawn image in the teacher's input
  space, identical to `"input"`) and one entry per mirror point name.
  """

  def __init__(
    self,
    image_size: int = 64,
    embedding_dim: int = 1024,
    noise_dim: int = 0,
    fc_units: int = 4096,
    normalization: str = "none",
    conditional_norm: bool = False,
    upsampling: str = "nearest",
    calibrated_outputs: bool = False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    vgg_spec.validate_image_size(image_size)
    if normalization not in NORMALIZATIONS:
      raise ValueError(
        f"unknown normalisation {normalization!r}; "
        f"expected one of {NORMALIZATIONS}"
      )
    if upsampling not in UPSAMPLINGS:
      raise ValueError(
        f"unknown up-sampling {upsampling!r}; expected one of {UPSAMPLINGS}"
      )
    if conditional_norm and normalization == "none":
      raise ValueError("conditional normalisation needs a normalisation")
    self.image_size = image_size
    self.embedding_dim = embedding_dim
    self.noise_dim = noise_dim
    self.fc_units = fc_units
    self.normalization = normalization
    self.conditional_norm = conditional_norm
    self.upsampling = upsampling
    self.calibrated_outputs = calibrated_outputs

    self.fc7_mirror = layers.Dense(
      fc_units, activation="relu", name="fc7_mirror"
    )
    self.fc6_mirror = layers.Dense(
      fc_units, activation="relu", name="fc6_mirror"
    )
    top = vgg_spec.MIRROR_POINTS[-1]
    self._top_shape = top.shape(image_size)
    self.top_mirror = layers.Dense(
      self._top_shape[0] * self._top_shape[1] * self._top_shape[2],
      activation="relu",
      name=top.mirror_name,
    )
    # Every other point, top-down; each layer's output has the point's shape.
    # Layers and weights are attributes, not list or dict items: Keras 3
    # leaves the latter out of tf.train.Checkpoint (keras-team/keras#18398).
    self._mirror_order = tuple(
      p.mirror_name for p in reversed(vgg_spec.MIRROR_POINTS[:-1])
    )
    for point in reversed(vgg_spec.MIRROR_POINTS[:-1]):
      setattr(self, point.mirror_name, self._mirror_layer(point))
    if calibrated_outputs:
      for p in vgg_spec.MIRROR_POINTS:
        setattr(
          self,
          f"{p.name}_scale",
          self.add_weight(
            shape=(p.channels,),
            initializer="ones",
            trainable=False,
            name=f"{p.name}_scale",
          ),
        )
      self.image_shift = self.add_weight(
        shape=(3,), initializer="zeros", trainable=False, name="image_shift"
      )

  @property
  def mirror_layers(self):
    """Every mirror layer below the top dense, top-down."""
    return tuple(getattr(self, name) for name in self._mirror_order)

  @property
  def output_scales(self):
    """{point name: per-channel output scale} (calibrated outputs only)."""
    return {
      p.name: getattr(self, f"{p.name}_scale") for p in vgg_spec.MIRROR_POINTS
    }

  def _mirror_layer(self, point: vgg_spec.MirrorPoint) -> layers.Layer:
    """The layer producing `point`'s shape from the point above it."""
    above = vgg_spec.MIRROR_POINTS[vgg_spec.POINT_NAMES.index(point.name) + 1]
    if above.kind == "pool":
      # Undo the pool: same channels, twice the size.
      return layers.UpSampling2D(
        2, interpolation=self.upsampling, name=point.mirror_name
      )
    # The image layer is a plain linear conv (as in the reference): a
    # normalised image layer would force every drawn image to the same
    # per-channel mean and contrast (instance norm) or tie it to the batch.
    is_image = point.kind == "input"
    return MirrorConv(
      point.channels,
      "none" if is_image else self.normalization,
      self.conditional_norm and not is_image,
      activation=not is_image,
      name=point.mirror_name,
    )

  def call(self, embedding, noise=None, training=False) -> Dict:
    condition = embedding
    if self.noise_dim:
      if noise is None:
        raise ValueError(f"this student needs noise of size {self.noise_dim}")
      condition = ops.concatenate(
        [embedding, ops.cast(noise, embedding.dtype)], axis=-1
      )
    x = self.fc6_mirror(self.fc7_mirror(condition))
    x = ops.reshape(self.top_mirror(x), (-1,) + self._top_shape)
    top = vgg_spec.MIRROR_POINTS[-1].name
    outputs = {top: self._reported(top, x)}
    for layer in self.mirror_layers:
      if isinstance(layer, MirrorConv):
        x = layer(x, condition, training=training)
      else:
        x = layer(x)
      name = layer.name[: -len("_mirror")]
      outputs[name] = self._reported(name, x)
    outputs["image"] = outputs["input"]
    return outputs

  def _reported(self, name: str, x):
    """The mirrored activation in the teacher's scale (see the module doc)."""
    if not self.calibrated_outputs:
      return x
    x = x * ops.cast(self.output_scales[name], x.dtype)
    if name == "input":
      x = x + ops.cast(self.image_shift, x.dtype)
    return x

  def calibrate(self, teacher_activations) -> None:
    """Sets the output constants from teacher activations of real images.

    Per channel: the root mean square of each activation (the image's
    standard deviation and mean for the linear input point).
    """
    if not self.calibrated_outputs:
      raise ValueError("this student was built without calibrated outputs")
    for name, variable in self.output_scales.items():
      value = ops.cast(teacher_activations[name], "float32")
      if name == "input":
        mean = ops.mean(value, axis=(0, 1, 2))
        self.image_shift.assign(mean)
        spread = ops.std(value, axis=(0, 1, 2))
      else:
        spread = ops.sqrt(ops.mean(ops.square(value), axis=(0, 1, 2)))
      # Dead teacher channels keep a small scale rather than zero.
      variable.assign(ops.maximum(spread, 1e-3))

  @property
  def _default_save_signature(self):
    # Exports use explicit signatures (sdn_tf.serving.export_lib); Keras' guessed one
    # cannot express the optional noise input.
    return None

  def build_for(self, batch_size: Optional[int] = None) -> None:
    """Creates the variables (needed under a distribution strategy's scope)."""
    embedding = ops.zeros((batch_size or 1, self.embedding_dim))
    noise = (
      ops.zeros((batch_size or 1, self.noise_dim)) if self.noise_dim else None
    )
    self(embedding, noise)

  def get_config(self):
    config = super().get_config()
    config.update(
      image_size=self.image_size,
      embedding_dim=self.embedding_dim,
      noise_dim=self.noise_dim,
      fc_units=self.fc_units,
      normalization=self.normalization,
      conditional_norm=self.conditional_norm,
      upsampling=self.upsampling,
      calibrated_outputs=self.calibrated_outputs,
    )
    return config


def mirror_names(student: Student) -> Sequence[str]:
  """Names of the student's mirror layers, top-down."""
  return [student.top_mirror.name] + [l.name for l in student.mirror_layers]
