import numpy as np

from ml.preprocess import PreprocessConfig
from ml.source_aug import (
    SourceAugConfig,
    jpeg_recompress,
    randomise_source,
    reframe,
    resample,
    source_variants,
    to_uint8,
)


def test_randomised_copy_is_grey_uint8_in_the_configured_size_range(brain_like):
    # Given a 300x240 slice and the default configuration
    cfg = SourceAugConfig()
    for seed in range(20):
        # When it is source-randomised
        out = randomise_source(brain_like, np.random.default_rng(seed), cfg)
        # Then it is a 2D uint8 image whose longer side is within reach of the resampling
        assert out.dtype == np.uint8 and out.ndim == 2
        assert min(out.shape) >= 1
        assert max(out.shape) <= cfg.max_up_side + 1


def test_same_seed_same_copy_other_seed_other_copy(brain_like):
    a = randomise_source(brain_like, np.random.default_rng([1, 5]))
    b = randomise_source(brain_like, np.random.default_rng([1, 5]))
    c = randomise_source(brain_like, np.random.default_rng([1, 6]))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_jpeg_recompression_changes_pixels_and_more_at_low_quality(brain_like):
    # Given a slice with fine texture
    # When it is re-encoded at a high and at a low JPEG quality
    high = jpeg_recompress(brain_like, 95)
    low = jpeg_recompress(brain_like, 30)
    # Then both keep shape and dtype, both change pixels, the low quality more so
    assert high.shape == low.shape == brain_like.shape and low.dtype == np.uint8
    err_high = np.abs(high.astype(int) - brain_like).mean()
    err_low = np.abs(low.astype(int) - brain_like).mean()
    assert 0 < err_high < err_low


def test_resample_puts_the_longer_side_in_range_when_not_upsampling(brain_like):
    cfg = SourceAugConfig(min_side=96, max_side=200, upsample_p=0.0)
    for seed in range(10):
        out = resample(brain_like, np.random.default_rng(seed), cfg)
        assert 96 <= max(out.shape) <= 200
        # the aspect ratio survives (300x240 -> 5:4, up to rounding)
        assert abs(out.shape[0] / out.shape[1] - 300 / 240) < 0.05


def test_reframe_crops_or_pads_within_limits(brain_like):
    cfg = SourceAugConfig(crop_max=0.1, pad_max=0.2)
    shapes = set()
    for seed in range(20):
        out = reframe(brain_like, np.random.default_rng(seed), cfg)
        h, w = out.shape
        assert 0.8 * 300 - 1 <= h <= 1.4 * 300 + 1 and 0.8 * 240 - 1 <= w <= 1.4 * 240 + 1
        shapes.add((h > 300) or (w > 240))
    assert shapes == {True, False}  # both crops and pads occur


def test_to_uint8_rescales_deep_images_and_keeps_8_bit_ones():
    deep = np.linspace(0, 4000, 64 * 64, dtype=np.float32).reshape(64, 64)
    out = to_uint8(deep)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    rgb = np.stack([np.full((8, 8), 77, np.uint8)] * 3, axis=-1)
    assert np.all(to_uint8(rgb) == 77)


def test_variants_are_preprocessed_reproducible_and_cached(tmp_path, brain_like, monkeypatch):
    from PIL import Image

    import ml.source_aug

    # Given two image files and a private cache folder
    monkeypatch.setattr(ml.source_aug, "CACHE_DIR", tmp_path / "cache")
    for name in ("a.png", "b.png"):
        Image.fromarray(brain_like).save(tmp_path / name)
    config = PreprocessConfig(size=32, intensity="equalize")
    # When three variants per image are drawn twice with the same seed
    first = source_variants(tmp_path, ["a.png", "b.png"], 3, config, seed=4, workers=1)
    second = source_variants(tmp_path, ["a.png", "b.png"], 3, config, seed=4, workers=1)
    uncached = source_variants(
        tmp_path, ["a.png", "b.png"], 3, config, seed=4, workers=1, use_cache=False
    )
    # Then they are model-sized uint8 arrays, identical, cached, and the variants differ
    assert first.shape == (2, 3, 32, 32) and first.dtype == np.uint8
    assert np.array_equal(first, second) and np.array_equal(first, uncached)
    assert len(list((tmp_path / "cache").glob("source-aug-*.npy"))) == 1
    assert not np.array_equal(first[0, 0], first[0, 1])
