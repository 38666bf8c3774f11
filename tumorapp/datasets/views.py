"""Dataset exports for the data team: choose cases, follow the build, download the zip."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView

from reviews.models import ReadLabel
from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.datasets import selectors, services
from tumorapp.datasets.forms import CompareForm, ExportForm
from tumorapp.datasets.models import DatasetExport

DATASET_ROLES = (Role.DATA_TEAM,)


class ExportListView(RoleRequiredMixin, FormView):
    """The list of exports, newest first, and the form that starts a new one."""

    roles = DATASET_ROLES
    template_name = "datasets/export_list.html"
    form_class = ExportForm

    def get_context_data(self, **kwargs):
        exports = selectors.exports_list()[:50]
        running = any(e.status in ("queued", "running") for e in exports)
        return super().get_context_data(exports=exports, running=running, **kwargs)

    def form_valid(self, form):
        export = services.export_create(
            actor=self.request.user, request=self.request, **form.cleaned_data
        )
        messages.success(self.request, "The export is being built.")
        return redirect("datasets:export_detail", public_id=export.public_id)


class ExportDetailView(RoleRequiredMixin, DetailView):
    roles = DATASET_ROLES
    template_name = "datasets/export_detail.html"
    context_object_name = "export"

    def get_object(self, queryset=None):
        try:
            return selectors.export_detail(public_id=self.kwargs["public_id"])
        except DatasetExport.DoesNotExist:
            raise Http404 from None

    def get_context_data(self, **kwargs):
        counts = self.object.counts
        split_rows = [
            (split, [(label, counts[split].get(label, 0)) for label in ReadLabel.values])
            for split in ("train", "val", "test")
            if split in counts
        ]
        return super().get_context_data(split_rows=split_rows, **kwargs)


class ExportDownloadView(RoleRequiredMixin, View):
    roles = DATASET_ROLES

    def get(self, request, public_id):
        export = DatasetExport.objects.filter(
            public_id=public_id, status=DatasetExport.Status.SUCCEEDED
        ).first()
        if export is None or not export.file:
            raise Http404
        services.export_download_record(export=export, actor=request.user, request=request)
        return FileResponse(
            default_storage.open(export.file.name, "rb"),
            as_attachment=True,
            filename=f"dataset-{export.short_version}.zip",
            content_type="application/zip",
        )


def _succeeded_export(public_id) -> DatasetExport:
    try:
        return selectors.export_detail(public_id=public_id, status=DatasetExport.Status.SUCCEEDED)
    except DatasetExport.DoesNotExist:
        raise Http404 from None


class ExportChangesView(RoleRequiredMixin, TemplateView):
    """What an export added, removed and relabelled against its parent or an earlier export
    the user picks (``?against=<id>``)."""

    roles = DATASET_ROLES
    template_name = "datasets/export_changes.html"

    def get_context_data(self, **kwargs):
        export = _succeeded_export(self.kwargs["public_id"])
        form = CompareForm(self.request.GET or None, export=export)
        against = form.cleaned_data["against"] if form.is_valid() else None
        changes = selectors.export_changes(
            export=export, parent=against, limit=selectors.CHANGES_LISTED
        )
        return super().get_context_data(
            export=export, form=form, against=against, changes=changes, **kwargs
        )


class ExportChangesCsvView(RoleRequiredMixin, View):
    """Every changed image as CSV (the page lists the first few hundred); audited."""

    roles = DATASET_ROLES

    def get(self, request, public_id):
        export = _succeeded_export(public_id)
        form = CompareForm(request.GET or None, export=export)
        if form.is_bound and not form.is_valid():
            raise Http404
        against = form.cleaned_data["against"] if form.is_bound else None
        changes = selectors.export_changes(export=export, parent=against)
        if changes is None:
            raise Http404
        lines = services.export_changes_download(
            changes=changes, actor=request.user, request=request
        )
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        filename = f"changes-{export.short_version}-from-{changes.parent.short_version}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "no-store"
        return response
