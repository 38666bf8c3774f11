"""Pages: upload (technologists), my uploads, scan detail, and the access-checked files."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views import View
from django.views.generic import ListView, TemplateView

from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.scans.downloads import stored_png_response
from tumorapp.scans.ingest import accepted_formats
from tumorapp.scans.models import Scan
from tumorapp.scans.selectors import latest_prediction, latest_run, scan_detail, scan_list_for
from tumorapp.scans.services import scan_access_record, scan_confirm_colour

SCAN_READERS = (Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN)


class UploadView(RoleRequiredMixin, TemplateView):
    roles = (Role.TECHNOLOGIST,)
    template_name = "scans/upload.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            upload_config={
                "maxFiles": settings.SCAN_UPLOAD_MAX_FILES,
                "maxFileBytes": settings.SCAN_UPLOAD_MAX_FILE_BYTES,
                "formats": [f.upper() for f in accepted_formats()],
            },
            **kwargs,
        )


class MyUploadsView(RoleRequiredMixin, ListView):
    roles = (Role.TECHNOLOGIST,)
    template_name = "scans/my_uploads.html"
    context_object_name = "scans"
    paginate_by = 50

    def get_queryset(self):
        return scan_list_for(self.request.user, mine=True)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = [(scan, latest_prediction(scan)) for scan in context["scans"]]
        context["rows"] = rows
        context["any_pending"] = any(s.status == Scan.Status.QUEUED for s, _ in rows)
        return context


class ScanDetailView(RoleRequiredMixin, TemplateView):
    roles = SCAN_READERS
    template_name = "scans/detail.html"

    def get_context_data(self, **kwargs):
        scan = scan_detail(self.request.user, kwargs["public_id"])
        scan_access_record(scan=scan, action=Action.SCAN_VIEWED, request=self.request)
        prediction = latest_prediction(scan)
        probabilities = []
        if prediction is not None:
            ranked = sorted(prediction.probabilities.items(), key=lambda item: -item[1])
            probabilities = [(label.replace("_", " "), p, round(p * 100)) for label, p in ranked]
        return super().get_context_data(
            scan=scan,
            run=latest_run(scan),
            prediction=prediction,
            label_display=prediction.label.replace("_", " ") if prediction else "",
            probabilities=probabilities,
            pending=scan.status == Scan.Status.QUEUED,
            can_confirm_colour=self.request.user.has_role(Role.TECHNOLOGIST),
            **kwargs,
        )


class ConfirmColourView(RoleRequiredMixin, View):
    """POST: a technologist confirms a held colour image is an image to read."""

    roles = (Role.TECHNOLOGIST,)

    def post(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        try:
            scan_confirm_colour(scan=scan, actor=request.user, request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Confirmed: the image joins the radiologists' worklist.")
        return redirect("scans:detail", public_id=scan.public_id)


class ScanImageView(RoleRequiredMixin, View):
    roles = SCAN_READERS

    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        response = stored_png_response(scan.image.name, f"scan-{scan.public_id}.png")
        scan_access_record(scan=scan, action=Action.SCAN_IMAGE_VIEWED, request=request)
        return response


class ScanHeatmapView(RoleRequiredMixin, View):
    roles = SCAN_READERS

    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        prediction = latest_prediction(scan)
        key = prediction.heatmap.name if prediction and prediction.heatmap else ""
        response = stored_png_response(key, f"heatmap-{scan.public_id}.png")
        scan_access_record(scan=scan, action=Action.SCAN_HEATMAP_VIEWED, request=request)
        return response
