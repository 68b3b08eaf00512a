"""The built-in captioned shapes data set (docs/SHAPES.md).

A generator for a small data set with the structure of CUB-200-2011 plus
Reed et al.'s ten captions per image: one anti-aliased shape on a plain
background per image, 32 classes = (shape, colour), four (shape, colour)
pairs held out of the training split, and every image's attributes written
beside it so that models and evaluators can be judged exactly.

Conventions:
  * Geometry is in fractions of the image side R until rendering; pixel
    coordinates are continuous, the image spans [0, R] x [0, R], pixel
    (row i, column j) covers [j, j + 1) x [i, i + 1) and y grows downwards.
  * An object's "centre" is the centre of its bounding box (the square of
    side `extent`). For the triangle (apex up) the area centroid lies
    extent / 6 below it; `object_centroid` gives it.
  * Every image draws its randomness from its own generator, seeded by
    (seed, split, index), so an image never depends on which others were
    generated, in which order, or at which image size its attributes were
    sampled (the noise, drawn last, is the only size-dependent part).
"""

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import re
import shutil
import zlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from sdn_tf.utils.errors import UsageError

# ----------------------------------------------------------------------------
# Attribute tables (docs/SHAPES.md). RGB values are exact, before jitter.
# ----------------------------------------------------------------------------

SHAPES: Tuple[str, ...] = ("circle", "square", "triangle", "cross")

COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
    "purple": (150, 60, 200),
    "orange": (240, 140, 30),
    "cyan": (40, 200, 210),
    "white": (240, 240, 240),
}

# Object extent (side of its bounding box) as a fraction of the image side.
SIZES: Dict[str, float] = {"small": 0.25, "large": 0.5}

# Nominal object centre (x, y) as fractions of the image side.
POSITIONS: Dict[str, Tuple[float, float]] = {
    "center": (0.5, 0.5),
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
}

BACKGROUNDS: Dict[str, Tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "gray": (110, 110, 110),
}

# (shape, colour) pairs never in the training split (compositional test).
HELD_OUT_PAIRS: Tuple[Tuple[str, str], ...] = (
    ("triangle", "purple"),
    ("circle", "orange"),
    ("square", "cyan"),
    ("cross", "yellow"),
)

POSITION_JITTER = 0.04  # Uniform +- on each centre coordinate, fraction of R.
EXTENT_JITTER = 0.08  # Uniform +- relative change of the extent ("about").
COLOUR_JITTER = 10  # Uniform integer +- per channel, object and background.
NOISE_SIGMA = 4.0  # Gaussian pixel noise, in 0..255 units.
SUPERSAMPLE = 4  # Samples per pixel side for anti-aliasing.
CROSS_ARM = 1.0 / 3.0  # Arm thickness of the cross, fraction of the extent.

NUM_CAPTIONS = 10
DEFAULT_NUM_TRAIN = 10000
DEFAULT_NUM_TEST = 1600  # 50 per class.
DEFAULT_IMAGE_SIZE = 64
DEFAULT_SEED = 0

SPLITS: Tuple[str, ...] = ("train", "test")
# Written first and last: marks a directory as a shapes data set so that a
# rerun may overwrite it, and records how it was made.
INFO_FILE = "shapes_info.json"
_INDEX_FILES = ("images.txt", "image_class_labels.txt",
                "train_test_split.txt", "classes.txt", "attributes.jsonl")
_TREES = ("images", "text_c10")

# ----------------------------------------------------------------------------
# Caption phrase tables. Colour and shape words are the table names above.
# No phrase of one value is contained in a phrase of another value, and no
# template word contains an attribute word, so captions parse back with
# word-boundary matching.
# ----------------------------------------------------------------------------

SIZE_PHRASES: Dict[str, Tuple[str, ...]] = {
    "small": ("small", "tiny", "little"),
    "large": ("large", "big", "huge"),
}

POSITION_PHRASES: Dict[str, Tuple[str, ...]] = {
    "center": ("in the center", "in the middle", "at the center",
               "in the middle of the picture"),
    "left": ("on the left", "on the left side", "at the left side",
             "to the left", "at the left"),
    "right": ("on the right", "on the right side", "at the right side",
              "to the right", "at the right"),
    "top": ("at the top", "near the top", "in the upper part",
            "toward the top", "at the top side"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part",
               "toward the bottom", "at the bottom side"),
}

BACKGROUND_WORDS: Dict[str, Tuple[str, ...]] = {
    "black": ("black", "dark"),
    "gray": ("gray", "grey"),
}

# "{}" is the background word. {bg} slots take a prepositional phrase, {bgn}
# slots a noun phrase.
BACKGROUND_PHRASES: Tuple[str, ...] = (
    "on a {} background", "over a {} background", "against a {} backdrop",
    "on a plain {} background")
BACKGROUND_NOUN_PHRASES: Tuple[str, ...] = (
    "a {} background", "a plain {} backdrop", "a {} backdrop")

# Slots: {size} {colour} {shape} {pos} {bg} {bgn}. Colour and shape are in
# every template; size, position and background are left out of some.
CAPTION_TEMPLATES: Tuple[str, ...] = (
    "a {size} {colour} {shape} {pos}",
    "{pos} there is a {size} {colour} {shape} {bg}",
    "the picture shows a {size} {colour} {shape} {pos}",
    "{pos} you can see a {size} {colour} {shape}",
    "a {size} {shape} in {colour} {pos} {bg}",
    "this image has a {size} {colour} {shape} {pos}",
    "{bgn} with a {size} {colour} {shape} {pos}",
    "the {shape} is {colour} and {size}, and it sits {pos}",
    "a {colour} {shape} that is {size}, placed {pos}",
    "{size} {colour} {shape} {pos} {bg}",
    "an image of a {size} {colour} {shape} {pos}",
    "the {colour} {shape} {pos} is {size}",
    "{pos} sits a {size} {colour} {shape} {bg}",
    "a {colour} {shape} {pos} {bg}",
    "a {size} {colour} {shape} {bg}",
    "there is a {size} {colour} {shape} {pos}",
)

# ----------------------------------------------------------------------------
# Classes.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShapeClass:
  """One class: a (shape, colour) pair.

  Attributes:
    index: class index, starting at 1 (as in classes.txt).
    shape: a name from SHAPES.
    colour: a name from COLOURS.
    held_out: whether the pair never appears in the training split.
  """
  index: int
  shape: str
  colour: str
  held_out: bool

  @property
  def name(self) -> str:
    """The class name without index, e.g. "red_triangle"."""
    return f"{self.colour}_{self.shape}"

  @property
  def dir_name(self) -> str:
    """The class folder name, e.g. "017.red_triangle"."""
    return f"{self.index:03d}.{self.name}"


def _build_classes() -> Tuple[ShapeClass, ...]:
  held_out = set(HELD_OUT_PAIRS)
  pairs = [(s, c) for s in SHAPES for c in COLOURS]
  return tuple(ShapeClass(i + 1, s, c, (s, c) in held_out)
               for i, (s, c) in enumerate(pairs))


CLASSES: Tuple[ShapeClass, ...] = _build_classes()


def class_list() -> List[ShapeClass]:
  """Returns the 32 classes, shape-major in table order, indices from 1."""
  return list(CLASSES)


def split_classes(split: str) -> List[ShapeClass]:
  """Returns the classes a split draws from: train leaves out held-out pairs."""
  _check_split(split)
  if split == "train":
    return [c for c in CLASSES if not c.held_out]
  return list(CLASSES)


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


# ----------------------------------------------------------------------------
# Attributes and their sampling.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShapeAttributes:
  """Everything that determines one image except its pixel noise.

  Geometry is in fractions of the image side, so the same attributes render
  at any image size.

  Attributes:
    shape, colour, size, position, background: names from the tables.
    centre: bounding-box centre (x, y), fractions of the image side.
    extent: bounding-box side, fraction of the image side.
    object_rgb: the object's colour after jitter.
    background_rgb: the background's colour after jitter.
  """
  shape: str
  colour: str
  size: str
  position: str
  background: str
  centre: Tuple[float, float]
  extent: float
  object_rgb: Tuple[int, int, int]
  background_rgb: Tuple[int, int, int]


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """Returns the generator of image `index` of `split` for `seed`."""
  _check_split(split)
  return np.random.default_rng([seed, SPLITS.index(split), index])


def _pick(rng: np.random.Generator, options: Sequence):
  # rng.choice converts its argument to an array; indexing is ~10x faster.
  return options[int(rng.integers(len(options)))]


def _jitter_colour(rng: np.random.Generator,
                   rgb: Sequence[int]) -> Tuple[int, int, int]:
  delta = rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
  return tuple(int(v) for v in np.clip(np.asarray(rgb) + delta, 0, 255))


def _place_centre(nominal: float, jitter: float, extent: float) -> float:
  # Clamping keeps the whole bounding box inside the image; for a large
  # object at a side this only narrows the jitter to one side.
  half = extent / 2.0
  return float(np.clip(nominal + jitter, half, 1.0 - half))


def sample_attributes(rng: np.random.Generator, shape: str,
                      colour: str) -> ShapeAttributes:
  """Samples size, position, background and jitter for a (shape, colour)."""
  size = _pick(rng, list(SIZES))
  position = _pick(rng, list(POSITIONS))
  background = _pick(rng, list(BACKGROUNDS))
  extent = SIZES[size] * (1.0 + rng.uniform(-EXTENT_JITTER, EXTENT_JITTER))
  jx, jy = rng.uniform(-POSITION_JITTER, POSITION_JITTER, size=2)
  nx, ny = POSITIONS[position]
  centre = (_place_centre(nx, jx, extent), _place_centre(ny, jy, extent))
  return ShapeAttributes(
      shape=shape, colour=colour, size=size, position=position,
      background=background, centre=centre, extent=float(extent),
      object_rgb=_jitter_colour(rng, COLOURS[colour]),
      background_rgb=_jitter_colour(rng, BACKGROUNDS[background]))


# ----------------------------------------------------------------------------
# Geometry and rendering.
# ----------------------------------------------------------------------------


def object_area(shape: str, extent: float) -> float:
  """Returns the shape's area for a bounding-box side `extent` (any unit)."""
  factors = {
      "circle": np.pi / 4.0,
      "square": 1.0,
      "triangle": 0.5,
      "cross": 2.0 * CROSS_ARM - CROSS_ARM ** 2,
  }
  return factors[shape] * extent ** 2


def object_centroid(shape: str, centre: Tuple[float, float],
                    extent: float) -> Tuple[float, float]:
  """Returns the area centroid (x, y), in the units of `centre`/`extent`."""
  cx, cy = centre
  if shape == "triangle":
    return cx, cy + extent / 6.0  # Apex up: 2/3 of the height below it.
  return cx, cy


def _inside(shape: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float,
            extent: float) -> np.ndarray:
  """Boolean mask of the points (x, y) that lie inside the shape."""
  half = extent / 2.0
  dx, dy = np.abs(x - cx), np.abs(y - cy)
  if shape == "circle":
    return dx ** 2 + dy ** 2 <= half ** 2
  if shape == "square":
    return (dx <= half) & (dy <= half)
  if shape == "triangle":
    depth = y - (cy - half)  # Distance below the apex.
    return (depth >= 0) & (depth <= extent) & (dx <= depth / 2.0)
  if shape == "cross":
    arm = extent * CROSS_ARM / 2.0
    return ((dx <= half) & (dy <= arm)) | ((dx <= arm) & (dy <= half))
  raise ValueError(f"unknown shape {shape!r}")


def shape_coverage(attrs: ShapeAttributes, image_size: int,
                   supersample: int = SUPERSAMPLE) -> np.ndarray:
  """Returns the fraction of each pixel the object covers, float32 [R, R].

  Each pixel is sampled on a `supersample` x `supersample` grid, only inside
  the object's bounding box, which keeps the cost independent of R^2.
  """
  r, s = image_size, supersample
  cx, cy = attrs.centre[0] * r, attrs.centre[1] * r
  half = attrs.extent * r / 2.0
  x0, x1 = max(int(np.floor(cx - half)), 0), min(int(np.ceil(cx + half)), r)
  y0, y1 = max(int(np.floor(cy - half)), 0), min(int(np.ceil(cy + half)), r)
  offsets = (np.arange(s) + 0.5) / s
  xs = (np.arange(x0, x1)[:, None] + offsets).reshape(-1)
  ys = (np.arange(y0, y1)[:, None] + offsets).reshape(-1)
  inside = _inside(attrs.shape, xs[None, :], ys[:, None], cx, cy,
                   attrs.extent * r)
  cover = np.zeros((r, r), np.float32)
  cover[y0:y1, x0:x1] = inside.reshape(y1 - y0, s, x1 - x0, s).mean(
      axis=(1, 3))
  return cover


def render_image(attrs: ShapeAttributes, image_size: int,
                 rng: np.random.Generator) -> np.ndarray:
  """Renders one image, uint8 [R, R, 3]: anti-aliased object plus noise."""
  alpha = shape_coverage(attrs, image_size)[..., None]
  bg = np.asarray(attrs.background_rgb, np.float32)
  obj = np.asarray(attrs.object_rgb, np.float32)
  image = bg + alpha * (obj - bg)
  image += NOISE_SIGMA * rng.standard_normal(image.shape, dtype=np.float32)
  return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------
# Captions.
# ----------------------------------------------------------------------------


def _fix_articles(text: str) -> str:
  return re.sub(r"\ba (?=[aeiou])", "an ", text)


def _fill_template(template: str, attrs: ShapeAttributes,
                   rng: np.random.Generator) -> str:
  """Fills one template, drawing a synonym for each slot."""
  bg_word = _pick(rng, BACKGROUND_WORDS[attrs.background])
  text = template.format(
      size=_pick(rng, SIZE_PHRASES[attrs.size]),
      colour=attrs.colour,
      shape=attrs.shape,
      pos=_pick(rng, POSITION_PHRASES[attrs.position]),
      bg=_pick(rng, BACKGROUND_PHRASES).format(bg_word),
      bgn=_pick(rng, BACKGROUND_NOUN_PHRASES).format(bg_word))
  return _fix_articles(text)


def make_captions(attrs: ShapeAttributes, rng: np.random.Generator,
                  num: int = NUM_CAPTIONS) -> Tuple[List[str], List[int]]:
  """Returns `num` captions from distinct templates, and the template ids."""
  if num > len(CAPTION_TEMPLATES):
    raise ValueError(f"at most {len(CAPTION_TEMPLATES)} captions, got {num}")
  template_ids = [int(i) for i in
                  rng.permutation(len(CAPTION_TEMPLATES))[:num]]
  captions = [_fill_template(CAPTION_TEMPLATES[i], attrs, rng)
              for i in template_ids]
  return captions, template_ids


# ----------------------------------------------------------------------------
# One example.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShapeExample:
  """One generated image with its captions and metadata."""
  split: str
  index: int
  shape_class: ShapeClass
  attrs: ShapeAttributes
  image: np.ndarray
  captions: Tuple[str, ...]
  template_ids: Tuple[int, ...]

  @property
  def name(self) -> str:
    """File stem, unique within the data set, e.g. "red_circle_train_00012"."""
    return f"{self.shape_class.name}_{self.split}_{self.index:05d}"

  @property
  def rel_stem(self) -> str:
    """"<class_dir>/<name>", the path below images/ and text_c10/."""
    return f"{self.shape_class.dir_name}/{self.name}"


def example_class(split: str, index: int) -> ShapeClass:
  """Returns the class of image `index` of `split`.

  Classes cycle through the split's classes, so every split is balanced and
  a test split of at least 32 images holds every class.
  """
  classes = split_classes(split)
  return classes[index % len(classes)]


def generate_example(seed: int, split: str, index: int,
                     image_size: int = DEFAULT_IMAGE_SIZE) -> ShapeExample:
  """Generates image `index` of `split`; depends only on the arguments."""
  shape_class = example_class(split, index)
  rng = image_rng(seed, split, index)
  # Attributes and captions first: they then do not depend on image_size.
  attrs = sample_attributes(rng, shape_class.shape, shape_class.colour)
  captions, template_ids = make_captions(attrs, rng)
  image = render_image(attrs, image_size, rng)
  return ShapeExample(split, index, shape_class, attrs, image,
                      tuple(captions), tuple(template_ids))


def _round(values, digits: int = 3):
  return [round(float(v), digits) for v in values]


def attributes_record(example: ShapeExample, image_id: int,
                      image_size: int) -> Dict:
  """Returns the attributes.jsonl object of one example (pixel units)."""
  a, r = example.attrs, image_size
  extent = a.extent * r
  cx, cy = a.centre[0] * r, a.centre[1] * r
  return {
      "id": image_id,
      "path": f"{example.rel_stem}.png",
      "split": example.split,
      "class_index": example.shape_class.index,
      "class_dir": example.shape_class.dir_name,
      "held_out": example.shape_class.held_out,
      "shape": a.shape,
      "colour": a.colour,
      "size": a.size,
      "position": a.position,
      "background": a.background,
      "centre": _round((cx, cy)),
      "extent": round(extent, 3),
      "bbox": _round((cx - extent / 2, cy - extent / 2,
                      cx + extent / 2, cy + extent / 2)),
      "centroid": _round(object_centroid(a.shape, (cx, cy), extent)),
      "area": round(object_area(a.shape, extent), 3),
      "object_rgb": list(a.object_rgb),
      "background_rgb": list(a.background_rgb),
      "caption_templates": list(example.template_ids),
  }


# ----------------------------------------------------------------------------
# Arguments and the output directory.
# ----------------------------------------------------------------------------


class ShapesArgumentError(UsageError):
  """A bad argument to write_dataset; `arg` names it (the CLI flag name)."""

  def __init__(self, arg: str, message: str):
    super().__init__(message, flag=arg)
    self.arg = arg
    self.message = message


def validate_args(num_train: int, num_test: int, image_size: int,
                  seed: int) -> None:
  """Raises ShapesArgumentError naming the first bad argument."""
  num_classes = len(CLASSES)
  if num_train < 0:
    raise ShapesArgumentError("num_train", f"must be >= 0, got {num_train}")
  if num_test < 0:
    raise ShapesArgumentError("num_test", f"must be >= 0, got {num_test}")
  if 0 < num_test < num_classes:
    raise ShapesArgumentError(
        "num_test", f"must be 0 or >= {num_classes} so that the test split "
        f"holds every class, got {num_test}")
  if num_train + num_test == 0:
    raise ShapesArgumentError("num_train", "num_train + num_test must be > 0")
  if image_size < 32 or image_size % 32:
    raise ShapesArgumentError(
        "image_size", f"must be a multiple of 32 and >= 32, got {image_size}")
  if seed < 0:
    raise ShapesArgumentError("seed", f"must be >= 0, got {seed}")


def is_shapes_dataset(out_dir: str) -> bool:
  """Whether `out_dir` holds a (possibly partial) shapes data set."""
  try:
    with open(os.path.join(out_dir, INFO_FILE)) as f:
      return json.load(f).get("generator") == __name__
  except (OSError, ValueError, AttributeError):
    return False


def check_out_dir(out_dir: str) -> None:
  """Raises ShapesArgumentError unless `out_dir` may be written.

  Allowed: a missing or empty directory, or a previous shapes data set
  (which write_dataset replaces).
  """
  if not out_dir:
    raise ShapesArgumentError("out_dir", "must be given")
  if not os.path.exists(out_dir):
    return
  if not os.path.isdir(out_dir):
    raise ShapesArgumentError("out_dir", f"{out_dir} is not a directory")
  if os.listdir(out_dir) and not is_shapes_dataset(out_dir):
    raise ShapesArgumentError(
        "out_dir", f"{out_dir} is not empty and is not a shapes data set "
        f"(no {INFO_FILE}); refusing to write into it")


def _clear_previous(out_dir: str) -> None:
  # Only what a previous run wrote, so a smaller rerun leaves no stale files.
  for tree in _TREES:
    shutil.rmtree(os.path.join(out_dir, tree), ignore_errors=True)
  for name in _INDEX_FILES + (INFO_FILE,):
    path = os.path.join(out_dir, name)
    if os.path.exists(path):
      os.remove(path)


# ----------------------------------------------------------------------------
# Writing the CUB layout.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DatasetSummary:
  """What write_dataset wrote."""
  out_dir: str
  num_train: int
  num_test: int
  image_size: int
  seed: int
  num_classes_train: int
  num_classes_test: int


def _write_text(path: str, lines: Sequence[str]) -> None:
  with open(path, "w", encoding="ascii", newline="\n") as f:
    f.writelines(line + "\n" for line in lines)


def _write_info(out_dir: str, info: Dict, complete: bool) -> None:
  info = dict(info, complete=complete)
  _write_text(os.path.join(out_dir, INFO_FILE),
              [json.dumps(info, sort_keys=True)])


def _write_example_files(out_dir: str, example: ShapeExample) -> None:
  """Writes the PNG and the ten captions of one example."""
  png = os.path.join(out_dir, "images", example.rel_stem + ".png")
  # Run-length zlib: same size as the default on these noisy images, ~2x
  # faster to encode, and still deterministic.
  Image.fromarray(example.image, "RGB").save(
      png, format="PNG", compress_level=6, compress_type=zlib.Z_RLE)
  txt = os.path.join(out_dir, "text_c10", example.rel_stem + ".txt")
  _write_text(txt, example.captions)


def _make_class_dirs(out_dir: str) -> None:
  for tree in _TREES:
    for c in CLASSES:
      os.makedirs(os.path.join(out_dir, tree, c.dir_name), exist_ok=True)


def _write_index_files(out_dir: str, examples: List[ShapeExample],
                       image_size: int) -> None:
  """Writes the CUB index files and attributes.jsonl, ids in sorted order."""
  _write_text(os.path.join(out_dir, "classes.txt"),
              [f"{c.index} {c.dir_name}" for c in CLASSES])
  images, labels, splits, records = [], [], [], []
  for image_id, ex in enumerate(examples, start=1):
    images.append(f"{image_id} {ex.rel_stem}.png")
    labels.append(f"{image_id} {ex.shape_class.index}")
    splits.append(f"{image_id} {1 if ex.split == 'train' else 0}")
    records.append(json.dumps(attributes_record(ex, image_id, image_size)))
  _write_text(os.path.join(out_dir, "images.txt"), images)
  _write_text(os.path.join(out_dir, "image_class_labels.txt"), labels)
  _write_text(os.path.join(out_dir, "train_test_split.txt"), splits)
  _write_text(os.path.join(out_dir, "attributes.jsonl"), records)


def _generate_and_write(job: Tuple[str, int, str, int, int]) -> ShapeExample:
  """Generates and writes one example; returns it without its pixels."""
  out_dir, seed, split, index, image_size = job
  example = generate_example(seed, split, index, image_size)
  _write_example_files(out_dir, example)
  # Index files need no pixels; dropping them keeps memory flat and makes
  # the result cheap to send back from a worker process.
  return dataclasses.replace(example, image=np.zeros((0,), np.uint8))


def _generate_all(jobs: List[Tuple], num_workers: int):
  """Yields _generate_and_write's results over `jobs`, in order."""
  if num_workers <= 1:
    yield from map(_generate_and_write, jobs)
    return
  # "spawn": a forked child of a process that loaded TensorFlow can hang.
  # An executor (unlike multiprocessing.Pool) fails rather than hangs when
  # its workers cannot start, e.g. when __main__ cannot be re-imported.
  ctx = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(
      max_workers=num_workers, mp_context=ctx) as pool:
    yield from pool.map(_generate_and_write, jobs, chunksize=64)


def _run_jobs(jobs: List[Tuple], num_workers: int,
              progress: Optional[Callable[[int, int], None]],
              progress_every: int) -> List[ShapeExample]:
  """Runs _generate_and_write over `jobs`, in order, reporting progress."""
  examples = []
  for example in _generate_all(jobs, num_workers):
    examples.append(example)
    done = len(examples)
    if progress and (done % progress_every == 0 or done == len(jobs)):
      progress(done, len(jobs))
  return examples


def write_dataset(out_dir: str,
                  num_train: int = DEFAULT_NUM_TRAIN,
                  num_test: int = DEFAULT_NUM_TEST,
                  image_size: int = DEFAULT_IMAGE_SIZE,
                  seed: int = DEFAULT_SEED,
                  progress: Optional[Callable[[int, int], None]] = None,
                  progress_every: int = 500,
                  num_workers: int = 1) -> DatasetSummary:
  """Writes the shapes data set in the CUB layout under `out_dir`.

  Args:
    out_dir: a missing or empty directory, or a previous shapes data set
      (replaced).
    num_train: training images (never a held-out pair).
    num_test: test images, 0 or >= 32 (every class appears).
    image_size: image side R in pixels, a multiple of 32.
    seed: non-negative seed; the same arguments give the same bytes.
    progress: optional callback(done, total), called every `progress_every`
      images and once at the end.
    progress_every: images between progress calls.
    num_workers: processes that generate images; the output does not
      depend on it. One process writes the default size in well under a
      minute; above 1 workers are spawned, so the caller's __main__ must be
      importable (a script with a main guard).

  Returns:
    A DatasetSummary.

  Raises:
    ShapesArgumentError: a bad argument or an out_dir that may not be used.
  """
  validate_args(num_train, num_test, image_size, seed)
  check_out_dir(out_dir)
  if is_shapes_dataset(out_dir):
    _clear_previous(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  info = {"generator": __name__, "num_train": num_train,
          "num_test": num_test, "image_size": image_size, "seed": seed}
  _write_info(out_dir, info, complete=False)
  _make_class_dirs(out_dir)

  jobs = [(out_dir, seed, split, index, image_size)
          for split, count in (("train", num_train), ("test", num_test))
          for index in range(count)]
  examples = _run_jobs(jobs, num_workers, progress, progress_every)

  # CUB numbers images in the order of their paths.
  examples.sort(key=lambda ex: ex.rel_stem)
  _write_index_files(out_dir, examples, image_size)
  _write_info(out_dir, info, complete=True)
  return DatasetSummary(
      out_dir=out_dir, num_train=num_train, num_test=num_test,
      image_size=image_size, seed=seed,
      num_classes_train=len({e.shape_class.index for e in examples
                             if e.split == "train"}),
      num_classes_test=len({e.shape_class.index for e in examples
                            if e.split == "test"}))
