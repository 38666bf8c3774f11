"""The DICOM traffic page (technologists and admins) and its retry button."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.core.health import dicom_report
from tumorapp.results import selectors, services

TRAFFIC_ROLES = (Role.TECHNOLOGIST, Role.ADMIN)


class TrafficView(RoleRequiredMixin, TemplateView):
    roles = TRAFFIC_ROLES
    template_name = "results/traffic.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            summary=selectors.traffic_summary(),
            nodes=dicom_report(),
            associations=selectors.recent_associations(),
            studies=selectors.recent_received_studies(),
            refused=selectors.refused_instances(),
            sends=selectors.result_sends(),
            **kwargs,
        )


class RetryView(RoleRequiredMixin, View):
    """POST: send a failed result again (audited)."""

    roles = TRAFFIC_ROLES

    def post(self, request, public_id):
        send = selectors.result_send(public_id)
        try:
            services.result_send_retry(send=send, actor=request.user, request=request)
            messages.success(request, "Queued again: the same SR is sent to the PACS.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("results:traffic")
