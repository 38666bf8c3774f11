"""Dataset exports for the data team: choose cases, follow the build, download the zip."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.views import View
from django.views.generic import DetailView, FormView

from reviews.models import TumourClass
from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.datasets import selectors, services
from tumorapp.datasets.forms import ExportForm
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
            (split, [(label, counts[split].get(label, 0)) for label in TumourClass.values])
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
