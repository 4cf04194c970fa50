"""What convnet knowingly does not have, so that asking for it says so.

convnet is a library of convolutional networks on NumPy. A Keras user who reaches for a Keras
name that convnet lacks (``layers.LSTM``, ``keras.applications``, ``K.mean``) gets a
:class:`NotSupportedError` that names the feature and says why, instead of Python's bare "module
has no attribute". It is an AttributeError too, so ``hasattr(layers, "LSTM")`` and
``getattr(module, name, default)`` keep working as Python promises.

Each public module ends with ``__getattr__ = not_supported.module_getattr(__name__)``.
"""

from __future__ import annotations

from collections.abc import Callable


class NotSupportedError(AttributeError, NotImplementedError):
    """A Keras feature convnet does not have; the message says which and why."""


_RNN = ("recurrent layers are out of scope: convnet is a library of convolutional networks "
        "(Conv1D and the 1-D poolings handle sequences as 1-D images)")
_TEXT = "text, token and embedding layers are out of scope: convnet works on arrays of numbers"
_ATTENTION = "attention layers are out of scope: convnet is a library of convolutional networks"
_3D = "3-D (volumetric) layers are not implemented: convnet has 1-D and 2-D windows"
_NORM = "not implemented; BatchNormalization is convnet's normalisation layer"
_PIPELINE = ("not implemented: resize, crop or standardise the NumPy arrays before fit "
             "(convnet.utils has the image helpers); the random augmentation layers convnet has "
             "are RandomFlip, RandomTranslation, RandomRotation, RandomZoom and RandomContrast")
_LAMBDA = ("convnet has no automatic differentiation, so a layer made of any function has no "
           "backward pass: subclass convnet.layers.Layer and write _forward and _backward")
_LATER = "not implemented in convnet yet"
_TENSOR_OPS = ("convnet has no tensor operations: it works on NumPy arrays, so use NumPy "
               "(np.mean for K.mean / keras.ops.mean)")

_MISSING: dict[str, dict[str, str]] = {
    "convnet.layers": {
        **dict.fromkeys(["LSTM", "GRU", "SimpleRNN", "RNN", "LSTMCell", "GRUCell",
                         "SimpleRNNCell", "StackedRNNCells", "ConvLSTM1D", "ConvLSTM2D",
                         "ConvLSTM3D", "Bidirectional", "TimeDistributed"], _RNN),
        **dict.fromkeys(["Embedding", "TextVectorization", "StringLookup", "IntegerLookup",
                         "CategoryEncoding", "Hashing", "HashedCrossing", "Masking",
                         "RepeatVector"], _TEXT),
        **dict.fromkeys(["MultiHeadAttention", "Attention", "AdditiveAttention",
                         "GroupedQueryAttention", "EinsumDense"], _ATTENTION),
        **dict.fromkeys(["Conv3D", "Conv3DTranspose", "Convolution3D", "MaxPooling3D",
                         "MaxPool3D", "AveragePooling3D", "AvgPool3D", "GlobalAveragePooling3D",
                         "GlobalMaxPooling3D", "UpSampling3D", "ZeroPadding3D", "Cropping3D",
                         "SpatialDropout3D"], _3D),
        **dict.fromkeys(["LayerNormalization", "GroupNormalization", "UnitNormalization",
                         "SpectralNormalization"], _NORM),
        **dict.fromkeys(["Normalization", "Resizing", "CenterCrop", "RandomCrop",
                         "RandomBrightness", "RandomHeight", "RandomWidth", "Discretization",
                         "AutoContrast", "RandomGrayscale", "RandomHue", "RandomSaturation",
                         "RandomColorJitter", "Solarization", "RandomSharpness",
                         "RandomShear", "RandomPerspective", "RandomErasing",
                         "RandomGaussianBlur", "RandomInvert", "RandomPosterization",
                         "MixUp", "CutMix", "AugMix", "RandAugment", "Pipeline"], _PIPELINE),
        "Lambda": _LAMBDA,
        **dict.fromkeys(["AlphaDropout", "Dot", "Cropping1D", "ZeroPadding1D", "UpSampling1D",
                         "LocallyConnected1D", "LocallyConnected2D", "Identity",
                         "ThresholdedReLU", "SpatialDropout1D", "Wrapper",
                         "Conv1DTranspose", "SeparableConv1D", "DepthwiseConv1D"], _LATER),
    },
    "convnet": {
        "applications": ("keras.applications (pretrained ImageNet networks) is not included: "
                         "convnet trains small networks from scratch on the CPU"),
        "mixed_precision": ("mixed precision is not supported: convnet computes in one float "
                            "type, float32 by default (backend.set_floatx)"),
        "distribution": "distribution strategies are not supported: convnet runs in one process",
        "ops": _TENSOR_OPS,
        "random": "keras.random is not supported: use NumPy's random generators",
        "tree": _TENSOR_OPS,
    },
    "convnet.backend": {
        "get_session": ("TensorFlow 1 sessions do not exist in convnet (nor in TF 2's Keras): "
                        "call model.predict / model.fit directly"),
        "set_session": "TensorFlow 1 sessions do not exist in convnet (nor in TF 2's Keras)",
    },
    "convnet.utils": {
        "get_file": ("convnet does not download files: its MNIST is bundled and "
                     "fashion_mnist.load_data() reads the Debian package or a folder"),
        "pad_sequences": "sequence padding is for text models; " + _TEXT,
        "text_dataset_from_directory": _TEXT,
        "timeseries_dataset_from_array": "time series windows: " + _LATER,
        "audio_dataset_from_directory": "audio datasets: " + _LATER,
        "multi_gpu_model": "several GPUs: convnet runs on the CPU",
    },
    "convnet.datasets": {
        **dict.fromkeys(["cifar10", "cifar100"], (
            "it is not bundled: convnet ships MNIST and reads Fashion-MNIST; load CIFAR's arrays "
            "yourself (its python pickles) and fit on the NumPy arrays")),
        **dict.fromkeys(["imdb", "reuters"], _TEXT),
        **dict.fromkeys(["boston_housing", "california_housing"], (
            "it is not bundled: convnet's datasets are images (mnist, fashion_mnist)")),
    },
    "convnet.preprocessing": {
        "text": _TEXT,
        "sequence": "sequence padding is for text models; " + _TEXT,
    },
    "convnet.callbacks": {
        "RemoteMonitor": "posting logs to a server is not supported; CSVLogger writes them",
        "SwapEMAWeights": ("convnet's optimizers keep no moving average of the weights "
                           "(use_ema), so there is nothing to swap"),
    },
    "convnet.optimizers": {
        "Ftrl": _LATER + " (optimizers: SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam, "
                         "AdamW, Lion)",
        "Adafactor": _LATER,
        "LossScaleOptimizer": "loss scaling belongs to mixed precision, which is not supported",
    },
    "convnet.losses": {
        **dict.fromkeys(["CosineSimilarity", "cosine_similarity", "Poisson", "poisson",
                         "LogCosh", "log_cosh", "Tversky", "Dice", "CTC", "ctc",
                         "CategoricalFocalCrossentropy", "BinaryFocalCrossentropy"], _LATER),
    },
    "convnet.metrics": {
        **dict.fromkeys(["F1Score", "FBetaScore", "MeanIoU", "IoU", "BinaryIoU", "OneHotIoU",
                         "R2Score", "CosineSimilarity", "PrecisionAtRecall",
                         "RecallAtPrecision", "SensitivityAtSpecificity",
                         "SpecificityAtSensitivity", "TruePositives", "FalsePositives",
                         "TrueNegatives", "FalseNegatives", "Poisson", "LogCoshError",
                         "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge",
                         "RootMeanSquaredError", "MeanAbsolutePercentageError",
                         "MeanSquaredLogarithmicError", "Sum"], _LATER),
    },
}

# modules where every unknown public name is a tensor operation a Keras user expects
_DEFAULT: dict[str, str] = {"convnet.backend": _TENSOR_OPS, "convnet.ops": _TENSOR_OPS}


def missing(module: str, name: str) -> AttributeError:
    """The error for ``module.name``: a :class:`NotSupportedError` with the reason when it is a
    Keras name convnet knowingly lacks, else Python's plain AttributeError (dunder names always:
    Python and its tools probe modules for those)."""
    reason = _MISSING.get(module, {}).get(name)
    if reason is None and not name.startswith("__"):
        reason = _DEFAULT.get(module)
    if reason is None:
        return AttributeError(f"module {module!r} has no attribute {name!r}")
    short = module.replace("convnet", "keras", 1)
    return NotSupportedError(f"{short}.{name} is not supported by convnet: {reason}")


def module_getattr(module: str) -> Callable[[str], object]:
    """A module-level ``__getattr__`` that raises :func:`missing`'s error."""
    def __getattr__(name: str):
        raise missing(module, name)
    return __getattr__


def known(module: str) -> list[str]:
    """The Keras names of ``module`` that are refused with a reason (for the docs and tests)."""
    return sorted(_MISSING.get(module, {}))
