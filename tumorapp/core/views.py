import sys

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import get_template
from django.views import defaults
from django.views.generic import TemplateView

from tumorapp.api.errors import RETRY_AFTER_SECONDS, DatabaseUnavailable
from tumorapp.core.health import dicom_report, health_report


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "core/home.html"


def health(request):
    healthy, checks = health_report()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks, "dicom": dicom_report()},
        status=200 if healthy else 503,
    )


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
