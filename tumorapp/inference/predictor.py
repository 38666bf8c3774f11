"""The predictor, loaded once per process and model version, only where a prediction runs.

The class comes from settings.INFERENCE_PREDICTOR (``ml.predict.Predictor`` by default) and is
imported on first use, so the web process never imports TensorFlow unless it predicts itself
(the embedded mode, where tasks run in-process). The model folder is the registry's active
version, which the registry provides (``tumorapp.inference.hooks.active_model``; the class's
default folder while none is registered); the cache is keyed by that
version, so a promotion takes effect at the next prediction, without a restart, and the
version it replaced is dropped from memory.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from tumorapp.inference.hooks import active_model

_lock = threading.Lock()
_loaded: dict[str, object] = {}


def get_predictor():
    path = settings.INFERENCE_PREDICTOR
    active = active_model()
    key = f"{path}@{active.version}" if active else path
    with _lock:
        if key not in _loaded:
            predictor_class = import_string(path)
            predictor = predictor_class.load(active.path) if active else predictor_class.load()
            _loaded.clear()
            _loaded[key] = predictor
        return _loaded[key]
