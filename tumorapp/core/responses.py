"""How the site answers, wherever it answers from: the pages, the API and the error handlers."""

from __future__ import annotations

#: Seconds a client is asked to wait before retrying a request refused with 503.
RETRY_AFTER_SECONDS = 5
