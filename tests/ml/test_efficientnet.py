"""EfficientNet-Lite0 converted from the wheel's PyTorch file recognises ImageNet photographs."""

import numpy as np
import pytest
import skimage.data
from PIL import Image

from ml.efficientnet import imagenet_classifier

# ImageNet class indices (the standard 1000-class order) that are right for each photograph.
EXPECTED = {
    "chelsea": {
        281,
        282,
        283,
        284,
        285,
        287,
    },  # tabby, tiger cat, Persian, Siamese, Egyptian cat, lynx
    "coffee": {967, 968, 504, 923, 925},  # espresso, cup, coffee mug, plate, consomme
    "rocket": {657, 744, 812},  # missile, projectile, space shuttle
}


@pytest.fixture(scope="module")
def model():
    return imagenet_classifier(224)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_photographs_get_sensible_imagenet_classes(model, name):
    image = getattr(skimage.data, name)()
    x = np.asarray(Image.fromarray(image).resize((224, 224), Image.Resampling.BILINEAR), np.float32)
    logits = np.asarray(model(x[None], training=False))[0]
    top5 = set(np.argsort(-logits)[:5].tolist())
    top1 = int(np.argmax(logits))
    if name != "rocket":  # the launch tower makes "drilling platform" its first guess
        assert top1 in EXPECTED[name], (name, top1, top5)
    assert len(top5 & EXPECTED[name]) >= 2, (name, top5)


def test_a_grey_stem_equals_the_rgb_network_on_a_repeated_slice():
    import keras
    from keras import layers

    from ml.efficientnet import backbone, load_torch_weights

    def net(channels):
        inputs = keras.Input((64, 64, channels))
        m = keras.Model(inputs, layers.GlobalAveragePooling2D()(backbone(inputs)))
        load_torch_weights(m)
        return m

    grey = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 1)).astype(np.float32)
    a = np.asarray(net(1)(grey, training=False))
    b = np.asarray(net(3)(np.repeat(grey, 3, axis=-1), training=False))
    np.testing.assert_allclose(a, b, atol=1e-4)
