"""DICOM pages: study, 16-bit pixels and de-identified download (scan readers), and the
quarantine (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.core import confirm
from tumorapp.dicom import selectors, services
from tumorapp.dicom.files import dicom_response, pixels_response
from tumorapp.scans.downloads import stored_png_response
from tumorapp.scans.selectors import scan_detail
from tumorapp.scans.services import scan_access_record

SCAN_READERS = (Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN)


class StudyView(RoleRequiredMixin, TemplateView):
    roles = SCAN_READERS
    template_name = "scans/study.html"

    def get_context_data(self, **kwargs):
        study, slices = selectors.study_slices(self.request.user, kwargs["public_id"])
        cases = selectors.study_cases(self.request.user, study)
        return super().get_context_data(study=study, slices=slices, cases=cases, **kwargs)


class PixelsView(RoleRequiredMixin, View):
    """The viewer's 16-bit samples of one slice (see tumorapp.dicom.files)."""

    roles = SCAN_READERS

    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        response = pixels_response(scan)
        scan_access_record(scan=scan, action=Action.SCAN_IMAGE_VIEWED, request=request)
        return response


class DicomDownloadView(RoleRequiredMixin, View):
    """The stored de-identified DICOM file: the export of a DICOM scan."""

    roles = SCAN_READERS

    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        response = dicom_response(scan)
        scan_access_record(scan=scan, action=Action.SCAN_EXPORTED, request=request)
        return response


class QuarantineView(RoleRequiredMixin, TemplateView):
    roles = (Role.ADMIN,)
    template_name = "scans/quarantine.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(files=selectors.quarantined_files(), **kwargs)


class QuarantineImageView(RoleRequiredMixin, View):
    """The 8-bit image of a quarantined slice, so the admin can look for burned-in text."""

    roles = (Role.ADMIN,)

    def get(self, request, public_id):
        scan = selectors.quarantined_scan(public_id)
        response = stored_png_response(scan.image.name, f"scan-{scan.public_id}.png")
        scan_access_record(scan=scan, action=Action.SCAN_IMAGE_VIEWED, request=request)
        return response


class QuarantineDecisionView(RoleRequiredMixin, TemplateView):
    """POST decision=release|reject on a quarantined slice and the rest of its file. Reject
    deletes them, so it is confirmed first: GET states what goes (with the image at full
    size), and the POST there carries ``confirm=yes``; a reject without it is refused."""

    roles = (Role.ADMIN,)
    template_name = "dicom/quarantine_reject_confirm.html"

    def get_context_data(self, **kwargs):
        scan = selectors.quarantined_scan(self.kwargs["public_id"])
        return super().get_context_data(
            scan=scan, slice_count=selectors.quarantined_file_size(scan), **kwargs
        )

    def post(self, request, public_id):
        scan = selectors.quarantined_scan(public_id)
        decision = request.POST.get("decision")
        if decision == "reject" and not confirm.confirmed(request):
            return confirm.ask_again(request, "dicom:quarantine_decide", public_id=public_id)
        try:
            if decision == "release":
                released = services.quarantine_release(
                    scan=scan, actor=request.user, request=request
                )
                messages.success(
                    request, f"Released {len(released)} slice(s): the model will read them."
                )
            elif decision == "reject":
                count = services.quarantine_reject(scan=scan, actor=request.user, request=request)
                messages.success(request, f"Rejected: {count} slice(s) and their files deleted.")
            else:
                messages.error(request, "Choose release or reject.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("dicom:quarantine")
