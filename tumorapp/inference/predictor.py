"""The predictor, loaded once per process and only where a prediction runs.

The class comes from settings.INFERENCE_PREDICTOR (``ml.predict.Predictor`` by default) and is
imported on first use, so the web process never imports TensorFlow unless it predicts itself
(the embedded mode, where tasks run in-process).
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

_lock = threading.Lock()
_loaded: dict[str, object] = {}


def get_predictor():
    path = settings.INFERENCE_PREDICTOR
    with _lock:
        if path not in _loaded:
            predictor_class = import_string(path)
            _loaded[path] = predictor_class.load()
        return _loaded[path]
