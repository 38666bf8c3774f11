from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import JsonResponse
from django.views.generic import TemplateView

from tumorapp.core.health import dicom_report, health_report


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "core/home.html"


def health(request):
    healthy, checks = health_report()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks, "dicom": dicom_report()},
        status=200 if healthy else 503,
    )
