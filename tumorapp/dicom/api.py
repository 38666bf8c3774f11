"""API v1 for DICOM scans: the de-identified file and the viewer's 16-bit pixels."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from tumorapp.accounts.access import HasRole
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.dicom.files import dicom_response, pixels_response
from tumorapp.scans.selectors import scan_detail
from tumorapp.scans.services import scan_access_record

SCAN_READERS = (Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN)


class ScanDicomView(APIView):
    """The de-identified DICOM file of a DICOM scan, as an attachment (404 for others)."""

    permission_classes = [HasRole.of(*SCAN_READERS)]

    @extend_schema(responses={(200, "application/dicom"): OpenApiTypes.BINARY})
    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        response = dicom_response(scan)
        scan_access_record(scan=scan, action=Action.SCAN_EXPORTED, request=request)
        return response


class ScanPixelsView(APIView):
    """A DICOM slice's modality values as little-endian Uint16 (X-Image-Width/-Height,
    value = v * X-Pixel-Scale + X-Pixel-Offset)."""

    permission_classes = [HasRole.of(*SCAN_READERS)]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        response = pixels_response(scan)
        scan_access_record(scan=scan, action=Action.SCAN_IMAGE_VIEWED, request=request)
        return response
