"""One error shape for the whole API:

{"error": {"status": 400, "code": "invalid", "message": "...", "details": {...}}}
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    return str(detail)


class DatabaseUnavailable(exceptions.APIException):
    """The database dropped the connection or refused it (restart, failover): nothing was
    committed, so a client may send the same request again shortly."""

    status_code = 503
    default_detail = "The database is unavailable; try again in a few seconds."
    default_code = "unavailable"


#: Seconds a client is asked to wait before retrying a request refused with 503.
RETRY_AFTER_SECONDS = 5


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    body = {
        "status": response.status_code,
        "code": codes if isinstance(codes, str) else "invalid",
        "message": _first_message(detail),
    }
    if isinstance(detail, (dict, list)):
        body["details"] = detail
    response.data = {"error": body}
    return response


def not_found(request, exception=None):
    """Django's 404 for a URL that matches no route: under /api/ in the API's error shape
    (JSON, as the schema says), elsewhere the site's page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"status": 404, "code": "not_found", "message": "Not found."}}, status=404
        )
    return defaults.page_not_found(request, exception)
