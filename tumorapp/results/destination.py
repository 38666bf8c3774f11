"""The configured destination of results (settings) and its health."""

from __future__ import annotations

from django.conf import settings

from tumorapp.results.scu import Destination, echo


def configured_destination() -> Destination | None:
    """The PACS that results go to, or None when no host is configured (nothing is sent)."""
    if not settings.RESULTS_PACS_HOST:
        return None
    return Destination(
        ae_title=settings.RESULTS_PACS_AE_TITLE.strip(),
        host=settings.RESULTS_PACS_HOST,
        port=settings.RESULTS_PACS_PORT,
        calling_ae_title=settings.RESULTS_CALLING_AE_TITLE.strip(),
        timeout=settings.RESULTS_PACS_TIMEOUT,
    )


def destination_health(timeout: float = 2.0) -> str:
    """One line for /health/: whether the destination answers C-ECHO. A PACS that is down
    does not make the platform unhealthy (results wait for it), so this never raises."""
    destination = configured_destination()
    if destination is None:
        return "not configured"
    quick = Destination(
        ae_title=destination.ae_title,
        host=destination.host,
        port=destination.port,
        calling_ae_title=destination.calling_ae_title,
        timeout=timeout,
    )
    try:
        result = echo(quick)
    except Exception as exc:  # a health line reports every failure, whatever its kind
        return f"error: {type(exc).__name__}"
    if result.ok:
        return f"ok ({destination}, {result.milliseconds:.0f} ms)"
    return f"error: {result.detail}"
