"""What inference announces to the layers above it, and what it asks of them
(tumorapp.core.hooks). The model registry sits above inference: it provides the model to
load and the threshold in force; the worklist (reviews) acts on each prediction made."""

from __future__ import annotations

from typing import Protocol

from tumorapp.core.hooks import Event, Provider


class ModelChoice(Protocol):
    """The model version to predict with: its name and its artefact folder."""

    version: str
    path: str


#: ``prediction=<Prediction>``, published in the transaction that stores it: the worklist
#: opens the scan's case or re-ranks it.
prediction_made = Event("inference.prediction_made", required=True)

#: The active model version, or None while none is registered (the predictor's own folder).
active_model: Provider[ModelChoice | None] = Provider("inference.active_model")

#: ``(version)`` -> the tumour threshold in force for that version, or None to keep the
#: model's own flag.
threshold_in_force: Provider[float | None] = Provider("inference.threshold_in_force")
