import numpy as np
from PIL import Image

from ml.preprocess import (
    PreprocessConfig,
    brain_box,
    heatmap_to_original,
    preprocess,
    preprocess_with_geometry,
    to_grey,
    to_model_input,
)

CONFIG = PreprocessConfig(size=64)


def test_output_is_uint8_square_full_range(brain_like):
    out = preprocess(brain_like, CONFIG)
    assert out.shape == (64, 64)
    assert out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255


def test_aspect_ratio_is_preserved():
    # Given a 100x300 image holding a 80x80 bright square (no crop, so padding decides)
    img = np.zeros((100, 300), np.uint8)
    img[10:90, 110:190] = 200
    # When it is preprocessed without the brain crop (linear intensities: equalisation would
    # move the half-grey edge pixels of the resized square, which this test does not care about)
    out = preprocess(img, PreprocessConfig(size=60, brain_crop=False, intensity="percentile"))
    # Then the square stays square: 80/300 of 60 px in both directions
    rows = np.flatnonzero(out.max(axis=1) > 127)
    cols = np.flatnonzero(out.max(axis=0) > 127)
    assert abs(len(rows) - len(cols)) <= 1
    assert abs(len(cols) - 16) <= 1


def test_grey_from_rgb_matches_luminance(brain_like):
    rgb = np.stack([brain_like] * 3, axis=-1)
    assert np.allclose(to_grey(rgb), brain_like.astype(np.float32), atol=0.01)
    colour = np.array(Image.fromarray(rgb).convert("RGB"))
    colour[..., 0] = 0
    expected = np.asarray(Image.fromarray(colour).convert("L"), dtype=np.float32)
    assert np.abs(to_grey(colour) - expected).max() <= 1.0


def test_same_image_in_any_depth_gives_same_input(brain_like):
    as16 = brain_like.astype(np.uint16) * 257
    asfloat = brain_like.astype(np.float32) / 255.0
    a, b, c = (preprocess(x, CONFIG) for x in (brain_like, as16, asfloat))
    assert np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(a.astype(int) - c).max() <= 1


def test_brain_crop_removes_black_border(brain_like):
    canvas = np.zeros((800, 900), np.uint8)
    canvas[200:500, 300:540] = brain_like
    top, left, bottom, right = brain_box(canvas.astype(np.float32), 0.08, 0.0)
    # the ellipse spans rows 30-270 and columns 30-210 of the pasted image
    assert abs(top - 230) <= 6 and abs(bottom - 470) <= 6
    assert abs(left - 330) <= 6 and abs(right - 510) <= 6
    # Framing no longer matters: the embedded and the bare image preprocess alike (linear
    # intensities, so the comparison measures framing, not equalisation's contrast stretch)
    linear = PreprocessConfig(size=64, intensity="percentile")
    diff = np.abs(preprocess(canvas, linear).astype(int) - preprocess(brain_like, linear))
    assert diff.mean() < 8


def test_constant_image_does_not_crash():
    out = preprocess(np.full((50, 70), 9, np.uint8), CONFIG)
    assert out.shape == (64, 64) and out.max() == 0


def test_model_input_range_and_shape(brain_like):
    x = to_model_input(np.stack([preprocess(brain_like, CONFIG)] * 2))
    assert x.shape == (2, 64, 64, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_heatmap_maps_back_to_original_size(brain_like):
    _, geometry = preprocess_with_geometry(brain_like, CONFIG)
    heat = np.zeros((64, 64), np.float32)
    heat[:, :32] = 1.0  # left half of the model input
    back = heatmap_to_original(heat, geometry)
    assert back.shape == brain_like.shape and back.dtype == np.float32
    assert back.min() >= 0.0 and back.max() <= 1.0
    assert back[:, :100].mean() > back[:, 140:].mean()


def test_equalisation_ignores_windowing_and_gamma(brain_like):
    # Given the same slice with another window and gamma, as another scanner might store it
    other = (255.0 * (brain_like.astype(np.float32) / 255.0) ** 0.5 * 0.6 + 40).astype(np.uint8)
    # When both are preprocessed with rank-based equalisation
    equalize = PreprocessConfig(size=64, intensity="equalize")
    a, b = preprocess(brain_like, equalize), preprocess(other, equalize)
    # Then they come out (almost) the same, while linear percentile windowing keeps the gamma
    assert np.abs(a.astype(int) - b).mean() < 3
    linear = PreprocessConfig(size=64, intensity="percentile")
    assert np.abs(preprocess(brain_like, linear).astype(int) - preprocess(other, linear)).mean() > 8


def test_manifests_without_intensity_keep_percentile_windowing():
    # Given a manifest's preprocess block written before the intensity option existed (v2)
    old = {"size": 128, "brain_crop": True, "low_percentile": 0.5, "high_percentile": 99.5}
    # Then it loads as the percentile normalisation it was trained with
    assert PreprocessConfig.from_dict(old).intensity == "percentile"
    assert PreprocessConfig.from_dict({**old, "intensity": "equalize"}).intensity == "equalize"
