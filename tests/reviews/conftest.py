"""Review fixtures: cases opened through the same service the inference task calls."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

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


def png_bytes(size=64, *, colour=None) -> bytes:
    """A small greyscale slice (a bright disc on a dark field), or an RGBA heat map."""
    if colour is not None:
        image = Image.new("RGBA", (size, size), colour)
    else:
        image = Image.new("L", (size, size), 20)
        for x in range(size):
            for y in range(size):
                if (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 4) ** 2:
                    image.putpixel((x, y), 200)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def stored_files():
    """Write the case's scan image and heat map into the test media storage."""
    written = []

    def store(case):
        for name, data in (
            (case.scan.image.name, png_bytes(128)),
            (f"heatmaps/{case.scan.sha256}.png", png_bytes(128, colour=(255, 60, 0, 160))),
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
