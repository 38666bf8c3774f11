"""A predictor with one poison input: a 77-pixel-wide image kills the worker process outright
(as a decoder crash would); every other image is predicted like the test stand-in."""

import os

import numpy as np

from ml.images import load_image
from tests.tumorapp.inference.fakes import FakePredictor

POISON_WIDTH = 77


class PoisonPredictor(FakePredictor):
    def predict(self, images, heatmap: bool = False):
        if any(np.asarray(load_image(src)).shape[1] == POISON_WIDTH for src in images):
            os._exit(13)
        return super().predict(images, heatmap=heatmap)
