"""What the scans layer announces to the layers above it, and what it asks of them
(tumorapp.core.hooks)."""

from __future__ import annotations

from tumorapp.core.hooks import Event

#: ``scan=<Scan>``, published in the transaction that stores a slice the model may read (on
#: upload, or when an admin releases it from quarantine): inference queues its run.
scan_ready = Event("scans.scan_ready", required=True)
