"""The built-in captioned shapes data set (docs/SHAPES.md).

A generator for a small data set with the structure of CUB-200-2011 plus
Reed et al.'s ten captions per image: one anti-aliased shape on a plain
background per image, 32 classes = (shape, colour), four (shape, colour)
pairs held out of the training split, and every image's attributes written
beside it so that models and evaluators can be judged exactly.

One module a job: `spec` (attribute tables, classes, sampling), `render`
(drawing), `captions` (phrase tables and templates), `examples` (one
generated example) and `writer` (the data set on disk). This package
re-exports their public names, so callers write `shapes.generate_example`.
"""

from sdn_tf.data.shapes.captions import BACKGROUND_NOUN_PHRASES  # noqa: F401
from sdn_tf.data.shapes.captions import BACKGROUND_PHRASES  # noqa: F401
from sdn_tf.data.shapes.captions import BACKGROUND_WORDS  # noqa: F401
from sdn_tf.data.shapes.captions import CAPTION_TEMPLATES  # noqa: F401
from sdn_tf.data.shapes.captions import PARAPHRASE_TEMPLATES  # noqa: F401
from sdn_tf.data.shapes.captions import POSITION_PHRASES  # noqa: F401
from sdn_tf.data.shapes.captions import SIZE_PHRASES  # noqa: F401
from sdn_tf.data.shapes.captions import make_captions  # noqa: F401
from sdn_tf.data.shapes.examples import ShapeExample  # noqa: F401
from sdn_tf.data.shapes.examples import attributes_record  # noqa: F401
from sdn_tf.data.shapes.examples import example_class  # noqa: F401
from sdn_tf.data.shapes.examples import generate_example  # noqa: F401
from sdn_tf.data.shapes.render import object_area  # noqa: F401
from sdn_tf.data.shapes.render import object_centroid  # noqa: F401
from sdn_tf.data.shapes.render import render_image  # noqa: F401
from sdn_tf.data.shapes.render import shape_coverage  # noqa: F401
from sdn_tf.data.shapes.spec import ATTRIBUTE_VALUES  # noqa: F401
from sdn_tf.data.shapes.spec import BACKGROUNDS  # noqa: F401
from sdn_tf.data.shapes.spec import CLASSES  # noqa: F401
from sdn_tf.data.shapes.spec import COLOUR_JITTER  # noqa: F401
from sdn_tf.data.shapes.spec import COLOURS  # noqa: F401
from sdn_tf.data.shapes.spec import CROSS_ARM  # noqa: F401
from sdn_tf.data.shapes.spec import DEFAULT_IMAGE_SIZE  # noqa: F401
from sdn_tf.data.shapes.spec import DEFAULT_NUM_TEST  # noqa: F401
from sdn_tf.data.shapes.spec import DEFAULT_NUM_TRAIN  # noqa: F401
from sdn_tf.data.shapes.spec import DEFAULT_SEED  # noqa: F401
from sdn_tf.data.shapes.spec import EXTENT_JITTER  # noqa: F401
from sdn_tf.data.shapes.spec import HELD_OUT_PAIRS  # noqa: F401
from sdn_tf.data.shapes.spec import NOISE_SIGMA  # noqa: F401
from sdn_tf.data.shapes.spec import NUM_CAPTIONS  # noqa: F401
from sdn_tf.data.shapes.spec import POSITION_JITTER  # noqa: F401
from sdn_tf.data.shapes.spec import POSITIONS  # noqa: F401
from sdn_tf.data.shapes.spec import SHAPES  # noqa: F401
from sdn_tf.data.shapes.spec import SIZES  # noqa: F401
from sdn_tf.data.shapes.spec import SPLITS  # noqa: F401
from sdn_tf.data.shapes.spec import SUPERSAMPLE  # noqa: F401
from sdn_tf.data.shapes.spec import ShapeAttributes  # noqa: F401
from sdn_tf.data.shapes.spec import ShapeClass  # noqa: F401
from sdn_tf.data.shapes.spec import class_list  # noqa: F401
from sdn_tf.data.shapes.spec import image_rng  # noqa: F401
from sdn_tf.data.shapes.spec import sample_attributes  # noqa: F401
from sdn_tf.data.shapes.spec import split_classes  # noqa: F401
from sdn_tf.data.shapes.writer import GENERATOR_ID  # noqa: F401
from sdn_tf.data.shapes.writer import INFO_FILE  # noqa: F401
from sdn_tf.data.shapes.writer import DatasetSummary  # noqa: F401
from sdn_tf.data.shapes.writer import ShapesArgumentError  # noqa: F401
from sdn_tf.data.shapes.writer import check_out_dir  # noqa: F401
from sdn_tf.data.shapes.writer import dataset_info  # noqa: F401
from sdn_tf.data.shapes.writer import is_shapes_dataset  # noqa: F401
from sdn_tf.data.shapes.writer import validate_args  # noqa: F401
from sdn_tf.data.shapes.writer import write_dataset  # noqa: F401
