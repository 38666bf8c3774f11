"""One error shape for the whole API:

{"error": {"status": 400, "code": "invalid", "message": "...", "details": {...}}}
"""

from __future__ import annotations

import sys

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import get_template
from django.views import defaults
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from tumorapp.core.responses import RETRY_AFTER_SECONDS


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


def server_error(request):
    """handler500: a database that dropped or refused the connection (restart, failover)
    answers 503 with Retry-After, as the API's exception handler does, wherever it failed.

    Django turns an exception into a response at the layer that raised it, so a middleware
    would not see the commonest case, the session read in the middlewares; this handler sees
    every layer. The page is rendered without a request: no context processors, nothing that
    reads the database again."""
    if not isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        return defaults.server_error(request)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith("/api/"):
        error = DatabaseUnavailable()
        body = {"status": 503, "code": error.default_code, "message": str(error.detail)}
        return JsonResponse({"error": body}, status=503, headers=headers)
    return HttpResponse(get_template("503.html").render(), status=503, headers=headers)
