"""The training configuration: one immutable record, described once.

Every option is a field of `Config` with its default, its help text and,
where it has one, its set of allowed values. `sdn_tf.cli` turns the fields
into absl flags (so flagfiles in `configs/` set them), and library code takes
a `Config`, never `FLAGS`, so tests build one with `Config(...)` or
`dataclasses.replace`.
"""

import dataclasses
import json
import math
from typing import Dict
from typing import Optional
from typing import Tuple

from sdn_tf import models
from sdn_tf import text
from sdn_tf import training
from sdn_tf.data import cub
from sdn_tf.data import layouts
from sdn_tf.models import vgg_spec
from sdn_tf.utils.errors import UsageError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# What --test_poison can poison: each training loop that checks its steps.
POISON_TARGETS = ("teacher_pretrain", "text_pretrain", "stage1", "stage2")


class ConfigError(UsageError):
  """A bad option value; the message starts with the flag's name."""

  def __init__(self, name: str, message: str):
    super().__init__(message, flag=name)
    self.name = name


def option(default, help: str, choices: Optional[Tuple] = None):  # pylint: disable=redefined-builtin
  """A config field with its flag help and allowed values."""
  return dataclasses.field(
    default=default, metadata={"help": help, "choices": choices}
  )


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything a training run needs to know. See each field's help."""

  # --- Data -----------------------------------------------------------
  dataset: str = option(
    "shapes", "Layout of the source data.", layouts.dataset_names()
  )
  data_dir: str = option(
    "data/shapes/records",
    "Prepared TFRecords (tools/prepare_dataset.py). Made from "
    "--raw_data_dir when missing.",
  )
  raw_data_dir: str = option(
    "data/shapes/raw",
    "Source data in the --dataset layout; for shapes it is generated "
    "when missing.",
  )
  split: str = option(
    "class_disjoint",
    "CUB/Oxford split: text-to-image class-disjoint or "
    "CUB's own train_test_split.txt.",
    cub.SPLIT_RULES,
  )
  shapes_num_train: int = option(10000, "Shapes training images to generate.")
  shapes_num_test: int = option(1600, "Shapes test images to generate.")
  shapes_seed: int = option(
    0,
    "Seed the shapes data set is generated with; apart from --seed, so "
    "that runs of several seeds train and are judged on one data set.",
  )
  image_size: int = option(64, "Training resolution R (multiple of 32).")
  flip: bool = option(
    False,
    "Random horizontal flips (keep off when "
    "captions say left/right, as shapes' do).",
  )
  # --- Text -------------------------------------------------------------
  text_encoder: str = option("trainable", "Caption encoder E.", text.ENCODERS)
  hub_handle: str = option(
    "", "TF-Hub handle, URL or local path (--text_encoder=hub)."
  )
  text_architecture: str = option(
    "cnn_rnn",
    "How the trainable encoder reads a caption's tokens: cnn_rnn (convs "
    "and a bidirectional GRU, as char-CNN-RNN) or bag_of_words (the mean "
    "of its token embeddings: no word order, but word pairs never seen "
    "together are read as their words).",
    text.ARCHITECTURES,
  )
  tokenizer_mode: str = option(
    "word", "Token unit of the trainable encoder.", text.TOKENIZER_MODES
  )
  max_caption_length: int = option(
    32, "Tokens kept per caption (word mode; char mode keeps 8x as many)."
  )
  embedding_dim: int = option(1024, "Size of the caption embedding e.")
  text_pretrain_steps: int = option(
    0,
    "Steps of the trainable encoder's "
    "alignment pretraining against the "
    "teacher (0 = none).",
  )
  text_pretrain_point: str = option(
    "block4_pool",
    "Teacher point whose features the encoder learns to predict.",
    vgg_spec.POINT_NAMES,
  )
  text_pretrain_images: int = option(
    2048, "Training images whose teacher features the pretraining uses."
  )
  text_pretrain_learning_rate: float = option(
    1e-3, "Adam learning rate of the text pretraining."
  )
  text_augmentation: float = option(
    0.0,
    "Probability that a pretraining caption is rotated, and (separately) "
    "gets made-up words inserted, so that the encoder reads words, not "
    "template positions (0 = no augmentation).",
  )
  freeze_text_encoder: bool = option(
    False, "Keep the pretrained text encoder fixed in Stage I and II."
  )
  text_embedding_std: float = option(
    0.0,
    "After the text pretraining, "
    "whiten the embedding over the "
    "training captions to this standard "
    "deviation in every direction (0: "
    "leave it as trained).",
  )
  # --- Student ------------------------------------------------------------
  noise_dim: int = option(
    0, "Size of the noise z (0 = the reference: no noise)."
  )
  fc_units: int = option(4096, "Width of fc7_mirror and fc6_mirror.")
  normalization: str = option(
    "none", "Normalisation after each student conv.", models.NORMALIZATIONS
  )
  conditional_norm: bool = option(
    False,
    "Compute the normalisation's scale and shift from the text embedding.",
  )
  upsampling: str = option(
    "nearest", "How a pool's mirror up-samples.", models.UPSAMPLINGS
  )
  calibrated_outputs: bool = option(
    False,
    "Report each student activation times per-channel constants "
    "measured on the teacher before training (see models/student.py).",
  )
  # --- Teacher ------------------------------------------------------------
  teacher_weights: str = option(
    "pretrain",
    "imagenet | pretrain (train VGG19 on the data set's "
    "classes first) | random | path of a weights file.",
  )
  teacher_pooling: str = option(
    "avg", "Teacher pooling (avg = the reference).", models.POOLINGS
  )
  input_scaling: str = option(
    "caffe",
    "Teacher input space: Keras' caffe "
    "preprocessing or raw 0..255 (the reference).",
    models.INPUT_SCALINGS,
  )
  pretrain_steps: int = option(
    600, "Teacher pretraining steps (--teacher_weights=pretrain)."
  )
  pretrain_learning_rate: float = option(
    3e-4, "Teacher pretraining learning rate."
  )
  # --- Losses -------------------------------------------------------------
  stage1_points: str = option(
    "all", "Stage-I mirror points: all, blockN or names, comma-separated."
  )
  stage2_points: str = option("all", "Stage-II mirror points.")
  point_weights: str = option(
    "",
    "Per-point loss weights, 'name=w,...' "
    "(blockN allowed); unnamed points weigh 1.",
  )
  distance: str = option("l1", "Distance at each point.", training.DISTANCES)
  point_distances: str = option(
    "",
    "Per-point distances overriding "
    "--distance, 'name=l1|l2,...' (blockN "
    "allowed).",
  )
  normalize_points: bool = option(
    False, "Divide each point's term by a running mean of |teacher activation|."
  )
  stage2_stage1_weight: float = option(
    0.0, "Weight of the Stage-I term kept on during Stage II (0 = off)."
  )
  num_diverse_samples: int = option(
    1, "K noise samples per caption; the loss is the min over K (1 = plain)."
  )
  diverse_mean_weight: float = option(
    0.05, "Weight of the mean over the K samples added to the min."
  )
  # --- Optimisation --------------------------------------------------------
  batch_size: int = option(32, "Global batch size (all replicas).")
  learning_rate: float = option(
    1e-4, "Adam learning rate of both stages (see --stage2_learning_rate)."
  )
  stage2_learning_rate: float = option(
    0.0, "Stage II's own learning rate (0 = --learning_rate)."
  )
  lr_schedule: str = option(
    "constant", "Learning-rate schedule within a stage.", training.LR_SCHEDULES
  )
  stage1_steps: int = option(0, "Stage-I steps (0: use --stage1_epochs).")
  stage2_steps: int = option(0, "Stage-II steps (0: use --stage2_epochs).")
  stage1_epochs: float = option(
    100.0,
    "Stage-I epochs, an epoch being every training image with each caption.",
  )
  stage2_epochs: float = option(100.0, "Stage-II epochs.")
  # --- Infrastructure -------------------------------------------------------
  strategy: str = option(
    "default", "tf.distribute strategy.", training.STRATEGIES
  )
  num_cpu_devices: int = option(
    1,
    "Split the CPU into this many logical "
    "devices (for mirrored on one machine).",
  )
  tpu: str = option("", "TPU address (--strategy=tpu).")
  precision: str = option(
    "auto",
    "Keras dtype policy; auto picks mixed_bfloat16 where the hardware "
    "computes in bfloat16 natively (AMX or AVX512_BF16 CPUs, TPUs, GPUs "
    "from compute capability 8.0) and float32 elsewhere, and logs why.",
    PRECISIONS,
  )
  jit_compile: str = option(
    "auto",
    "Compile each step's loss and gradients with XLA. measure: a long "
    "training stage or teacher pretraining times its step both ways and "
    "keeps the faster (other work runs without XLA). auto: XLA on TPUs "
    "and GPUs, not on CPUs (slower in bfloat16; in float32 as fast or "
    "faster by machine, and a main job trained with it drew worse); it "
    "logs why.",
    ("auto", "true", "false", "measure"),
  )
  seed: int = option(0, "Seed of data order, noise and initialisation.")
  log_every: int = option(20, "Steps between progress lines and scalars.")
  image_every: int = option(200, "Steps between image grids.")
  checkpoint_every: int = option(200, "Steps between checkpoints.")
  keep_checkpoints: int = option(3, "Checkpoints kept per stage.")
  num_eval_captions: int = option(
    8, "Fixed test captions drawn in the TensorBoard grids."
  )
  eval_every: int = option(
    0,
    "Steps between attribute-accuracy checks in TensorBoard (eval/*): "
    "the evaluator network reads drawings of fixed validation captions. "
    "Shapes only; 0 turns it off. The first use trains the evaluator, "
    "which is then cached in --data_dir.",
  )
  eval_captions: int = option(
    64, "Validation captions drawn for each --eval_every check."
  )
  evaluator_steps: int = option(
    1500, "Training steps of the evaluator network --eval_every uses."
  )
  export: bool = option(True, "Export a SavedModel when training ends.")
  keep_exports: int = option(
    0, "Newest export versions kept (older ones are deleted); 0 keeps all."
  )
  allow_config_change: bool = option(
    False,
    "Resume a work dir whose model-shaping flags (architecture, data, "
    "losses, optimiser) differ from the flags it was trained with.",
  )
  on_non_finite: str = option(
    "stop",
    "A NaN or Inf loss or gradient (found before the update is applied): "
    "stop naming the stage and step, or skip the step and count it.",
    ("stop", "skip"),
  )
  deterministic: bool = option(
    False,
    "Bit-reproducible training: TensorFlow's deterministic ops and tf.data "
    "in a fixed order (slower input). The same seed and flags then give the "
    "same weights, also across a kill and resume.",
  )
  strict: bool = option(
    False,
    "A training record that cannot be read (corrupt bytes, an Example or "
    "image that does not decode) stops the run naming its shard and record, "
    "instead of being skipped, logged and counted.",
  )
  test_poison: str = option(
    "",
    "Tests only: WHAT:STEP makes the loss of that step NaN, WHAT one of "
    + ", ".join(POISON_TARGETS)
    + ".",
  )

  def __post_init__(self):
    validate(self)

  @property
  def stage1_point_names(self) -> Tuple[str, ...]:
    return vgg_spec.parse_points(self.stage1_points)

  @property
  def stage2_point_names(self) -> Tuple[str, ...]:
    return vgg_spec.parse_points(self.stage2_points)

  def weights_for(self, point_names) -> Dict[str, float]:
    """Loss weight of each of `point_names` (1 unless --point_weights says)."""
    weights = {name: 1.0 for name in point_names}
    for name, weight in parse_point_weights(self.point_weights).items():
      if name in weights:
        weights[name] = weight
    return weights

  def learning_rate_of(self, stage: int) -> float:
    """The learning rate of Stage `stage` (1 or 2)."""
    if stage == 2 and self.stage2_learning_rate:
      return self.stage2_learning_rate
    return self.learning_rate

  def distances_for(self, point_names) -> Dict[str, str]:
    """Distance at each of `point_names` (--distance unless overridden)."""
    overrides = parse_point_distances(self.point_distances)
    return {name: overrides.get(name, self.distance) for name in point_names}

  @property
  def use_xla(self) -> bool:
    """--jit_compile as a bool, once `training.precision.resolve` ran
    (False for measure: what work that does not measure uses)."""
    if self.jit_compile == "auto":
      raise ValueError(
        "--jit_compile=auto must be resolved first "
        "(sdn_tf.training.precision.resolve)"
      )
    return self.jit_compile == "true"

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def _parse_point_map(spec: str, flag: str, what: str, parse_value):
  """'block1=a,input=b' -> {point name: parse_value(value)}."""
  values = {}
  for item in filter(None, (s.strip() for s in spec.split(","))):
    if "=" not in item:
      raise ConfigError(flag, f"expected name={what}, got {item!r}")
    names, value = item.split("=", 1)
    parsed = parse_value(names, value.strip())
    try:
      points = vgg_spec.parse_points(names)
    except ValueError as e:
      raise ConfigError(flag, str(e))
    values.update({p: parsed for p in points})
  return values


def parse_point_weights(spec: str) -> Dict[str, float]:
  """'block1=0.5,input=10' -> {point name: weight}."""

  def weight_of(names: str, value: str) -> float:
    try:
      weight = float(value)
    except ValueError:
      raise ConfigError(
        "point_weights", f"weight of {names!r} is not a number: {value!r}"
      )
    # A negative weight would make the loss maximise that distance
    # (unbounded); 0 switches a point off.
    if not math.isfinite(weight) or weight < 0:
      raise ConfigError(
        "point_weights",
        f"weight of {names!r} must be a finite number >= 0, got {value!r}",
      )
    return weight

  return _parse_point_map(spec, "point_weights", "weight", weight_of)


def parse_point_distances(spec: str) -> Dict[str, str]:
  """'input=l2' -> {point name: distance}."""

  def distance_of(names: str, value: str) -> str:
    if value not in training.DISTANCES:
      raise ConfigError(
        "point_distances",
        f"distance of {names!r} must be "
        f"one of {', '.join(training.DISTANCES)}, got {value!r}",
      )
    return value

  return _parse_point_map(spec, "point_distances", "distance", distance_of)


def parse_poison(spec: str) -> Tuple[str, int]:
  """'stage1:5' -> ("stage1", 5); "" -> ("", 0)."""
  if not spec:
    return "", 0
  target, _, step = spec.partition(":")
  if target not in POISON_TARGETS or not step.isdigit() or int(step) < 1:
    raise ConfigError(
      "test_poison",
      f"expected WHAT:STEP with WHAT one of {', '.join(POISON_TARGETS)} "
      f"and STEP >= 1, got {spec!r}",
    )
  return target, int(step)


def validate(config: Config) -> None:
  """Raises ConfigError naming the first bad option."""
  for field in dataclasses.fields(config):
    choices = field.metadata.get("choices")
    value = getattr(config, field.name)
    if choices and value not in choices:
      raise ConfigError(
        field.name, f"{value!r} is not one of {', '.join(choices)}"
      )
  try:
    vgg_spec.validate_image_size(config.image_size)
  except ValueError as e:
    raise ConfigError("image_size", str(e))
  for name in ("stage1_points", "stage2_points"):
    try:
      vgg_spec.parse_points(getattr(config, name))
    except ValueError as e:
      raise ConfigError(name, str(e))
  parse_point_weights(config.point_weights)
  parse_point_distances(config.point_distances)
  parse_poison(config.test_poison)
  positive = (
    "batch_size",
    "learning_rate",
    "embedding_dim",
    "fc_units",
    "max_caption_length",
    "log_every",
    "image_every",
    "checkpoint_every",
    "keep_checkpoints",
    "num_cpu_devices",
    "num_diverse_samples",
    "text_pretrain_images",
    "text_pretrain_learning_rate",
    "eval_captions",
    "evaluator_steps",
  )
  for name in positive:
    if getattr(config, name) <= 0:
      raise ConfigError(name, f"must be > 0, got {getattr(config, name)}")
  non_negative = (
    "keep_exports",
    "noise_dim",
    "stage1_steps",
    "stage2_steps",
    "stage1_epochs",
    "stage2_epochs",
    "pretrain_steps",
    "text_pretrain_steps",
    "stage2_learning_rate",
    "stage2_stage1_weight",
    "text_embedding_std",
    "diverse_mean_weight",
    "shapes_num_train",
    "shapes_num_test",
    "shapes_seed",
    "num_eval_captions",
    "eval_every",
  )
  for name in non_negative:
    if getattr(config, name) < 0:
      raise ConfigError(name, f"must be >= 0, got {getattr(config, name)}")
  for name in positive + non_negative:
    value = getattr(config, name)
    if isinstance(value, float) and not math.isfinite(value):
      raise ConfigError(name, f"must be a finite number, got {value}")
  if config.eval_every and config.dataset != "shapes":
    raise ConfigError(
      "eval_every", "reads attributes only the shapes data carries"
    )
  if config.conditional_norm and config.normalization == "none":
    raise ConfigError(
      "conditional_norm", "needs --normalization=batch or instance"
    )
  if config.num_diverse_samples > 1 and config.noise_dim == 0:
    raise ConfigError(
      "num_diverse_samples", "K > 1 needs noise: set --noise_dim > 0"
    )
  if config.text_pretrain_steps and config.text_encoder != "trainable":
    raise ConfigError(
      "text_pretrain_steps",
      "only the trainable encoder "
      "is pretrained; set it to 0 with --text_encoder="
      f"{config.text_encoder}",
    )
  if config.freeze_text_encoder and not config.text_pretrain_steps:
    raise ConfigError(
      "freeze_text_encoder",
      "would freeze an untrained encoder: set --text_pretrain_steps > 0",
    )
  if not 0.0 <= config.text_augmentation <= 1.0:
    raise ConfigError(
      "text_augmentation",
      f"is a probability in [0, 1], got {config.text_augmentation}",
    )
  if config.text_embedding_std and not config.text_pretrain_steps:
    raise ConfigError(
      "text_embedding_std",
      "whitens the pretrained encoder: set --text_pretrain_steps > 0",
    )
  if (
    config.text_architecture != "cnn_rnn" and config.text_encoder != "trainable"
  ):
    raise ConfigError(
      "text_architecture",
      "is how the trainable encoder reads tokens; "
      f"--text_encoder={config.text_encoder} has no tokens to read",
    )
  if config.text_encoder == "hub" and not config.hub_handle:
    raise ConfigError("hub_handle", "required with --text_encoder=hub")
  if config.strategy == "tpu" and config.precision == "mixed_float16":
    raise ConfigError("precision", "TPUs use mixed_bfloat16, not mixed_float16")
  if config.teacher_weights not in ("imagenet", "pretrain", "random"):
    # Anything else is a path; checked when the teacher is built, since a
    # path may be relative to a directory that does not exist yet here.
    if not config.teacher_weights:
      raise ConfigError("teacher_weights", "empty")
