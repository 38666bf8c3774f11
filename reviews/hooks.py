"""What the worklist announces to the layers above it, and what it asks of them
(tumorapp.core.hooks)."""

from __future__ import annotations

from tumorapp.core.hooks import Event, Provider

#: ``case=<Case>, review=<Review | None>``, published in the transaction that reports a case
#: (its first report, a consensus, or an amendment of its final class): the results sent
#: back to the PACS queue the case's SR.
case_reported = Event("reviews.case_reported")

#: ``(version)`` -> the operating point in force for a model version (threshold and the
#: figures it was measured with), or None for a version the registry does not know; the
#: model registry answers (tumorapp.registry.selectors.operating_point).
operating_point: Provider[dict | None] = Provider("reviews.operating_point")
