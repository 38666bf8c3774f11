"""Review fixtures: cases opened through the same service the inference task calls."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFilter

from reviews.services import case_open_for_prediction
from tests.factories import PredictionFactory, UserFactory
from tumorapp.accounts.roles import Role


@pytest.fixture
def make_case(db):
    """make_case(p_tumor=0.9, label="glioma", ood=False, probabilities=None) -> Case."""

    def make(**prediction_fields):
        return case_open_for_prediction(prediction=PredictionFactory(**prediction_fields))

    return make


@pytest.fixture
def radiologists(db):
    return [UserFactory(username=f"reader{i}", role=Role.RADIOLOGIST) for i in range(3)]


def slice_png(size=256) -> bytes:
    """A synthetic axial slice: skull ring, brain, ventricles and a bright lesion."""
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    s = size / 256
    draw.ellipse([28 * s, 18 * s, 228 * s, 238 * s], fill=170)
    draw.ellipse([38 * s, 28 * s, 218 * s, 228 * s], fill=95)
    draw.ellipse([108 * s, 90 * s, 124 * s, 150 * s], fill=35)
    draw.ellipse([132 * s, 90 * s, 148 * s, 150 * s], fill=35)
    draw.ellipse([150 * s, 60 * s, 185 * s, 95 * s], fill=210)
    image = image.filter(ImageFilter.GaussianBlur(2 * s))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def heatmap_png(size=256) -> bytes:
    """A transparent overlay, hot over the lesion of slice_png."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = size / 256
    draw.ellipse([135 * s, 45 * s, 200 * s, 110 * s], fill=(255, 140, 0, 200))
    draw.ellipse([152 * s, 62 * s, 183 * s, 93 * s], fill=(255, 30, 0, 255))
    image = image.filter(ImageFilter.GaussianBlur(8 * s))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def stored_files():
    """Write the case's scan image and heat map into the test media storage."""
    written = []

    def store(case):
        for name, data in (
            (case.scan.image.name, slice_png()),
            (f"heatmaps/{case.scan.sha256}.png", heatmap_png()),
        ):
            if default_storage.exists(name):
                default_storage.delete(name)
            written.append(default_storage.save(name, ContentFile(data)))
        case.prediction.heatmap.name = written[-1]
        case.prediction.save(update_fields=["heatmap"])
        return case

    yield store
    for name in written:
        default_storage.delete(name)
