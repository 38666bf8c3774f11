"""What the worklist announces to the layers above it (tumorapp.core.hooks)."""

from __future__ import annotations

from tumorapp.core.hooks import Event

#: ``case=<Case>, review=<Review | None>``, published in the transaction that reports a case
#: (its first report, a consensus, or an amendment of its final class): the results sent
#: back to the PACS queue the case's SR.
case_reported = Event("reviews.case_reported")
