"""The quality dashboard (admins and the data team) and its manual refresh."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.core.queue import enqueue
from tumorapp.quality import dashboard, selectors
from tumorapp.quality.forms import QualityFilterForm
from tumorapp.quality.tasks import refresh_quality

QUALITY_ROLES = (Role.ADMIN, Role.DATA_TEAM)


class DashboardView(RoleRequiredMixin, TemplateView):
    roles = QUALITY_ROLES
    template_name = "quality/dashboard.html"

    def get_context_data(self, **kwargs):
        default = selectors.QualityFilters.default()
        form = QualityFilterForm(
            self.request.GET or None,
            versions=selectors.model_versions(),
            initial={"start": default.start, "end": default.end},
        )
        filters = form.filters()
        report = selectors.quality_report(filters=filters)
        refresh = selectors.last_refresh()
        return super().get_context_data(
            form=form,
            filters=filters,
            report=report,
            refresh=refresh,
            schedule=selectors.refresh_schedule(refresh),
            bias_rule={
                "days": settings.QUALITY_BIAS_DAYS,
                "min_disagreements": settings.QUALITY_BIAS_MIN_DISAGREEMENTS,
                "share": settings.QUALITY_BIAS_SWITCH_SHARE,
            },
            query=self.request.GET.urlencode(),
            drift_days=settings.QUALITY_DRIFT_DAYS,
            **dashboard.context(report),
            **kwargs,
        )


class RefreshView(RoleRequiredMixin, View):
    """POST: recompute today's and yesterday's figures now instead of at the next beat."""

    roles = QUALITY_ROLES

    def post(self, request):
        enqueue(refresh_quality)
        messages.success(request, "Figures are being recomputed; reload in a moment.")
        return redirect("quality:dashboard")
