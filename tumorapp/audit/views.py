"""The audit log pages (admin role): a filtered list, one event, and a CSV export."""

import json

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, ListView

from tumorapp.accounts import rules
from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.audit.forms import AuditFilterForm
from tumorapp.audit.models import AuditEvent
from tumorapp.audit.selectors import audit_events
from tumorapp.audit.services import audit_export


class AuditEventListView(RoleRequiredMixin, ListView):
    roles = rules.AUDIT_ROLES
    template_name = "audit/event_list.html"
    context_object_name = "events"
    paginate_by = 50

    def get_queryset(self):
        self.form = AuditFilterForm(self.request.GET or None)
        return audit_events(**self.form.filters())

    def get_context_data(self, **kwargs):
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(form=self.form, query=query.urlencode(), **kwargs)


class AuditEventDetailView(RoleRequiredMixin, DetailView):
    roles = rules.AUDIT_ROLES
    template_name = "audit/event_detail.html"
    context_object_name = "event"

    def get_object(self, queryset=None):
        return get_object_or_404(AuditEvent, public_id=self.kwargs["public_id"])

    def get_context_data(self, **kwargs):
        event = self.object
        return super().get_context_data(
            previous=AuditEvent.objects.filter(id__lt=event.id).order_by("-id").first(),
            following=AuditEvent.objects.filter(id__gt=event.id).order_by("id").first(),
            details_json=json.dumps(event.details, indent=2, sort_keys=True, ensure_ascii=False),
            **kwargs,
        )


class AuditExportView(RoleRequiredMixin, View):
    """The filtered view as CSV. The export is itself an audited action."""

    roles = rules.AUDIT_ROLES

    def get(self, request):
        form = AuditFilterForm(request.GET or None)
        filters = form.filters()
        lines = audit_export(
            events=audit_events(**filters),
            filters={k: str(v) for k, v in filters.items()},
            actor=request.user,
            request=request,
        )
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "no-store"
        return response
