"""API v1 for scans: upload (one or many files), list, detail, image and heat map."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from tumorapp.accounts.access import HasRole
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.core.responses import RETRY_AFTER_SECONDS
from tumorapp.scans.downloads import stored_png_response
from tumorapp.scans.models import Scan
from tumorapp.scans.rules import can_upload_scans
from tumorapp.scans.selectors import latest_prediction, latest_run, scan_detail, scan_list_for
from tumorapp.scans.services import UploadOutcome, scan_access_record, scan_upload

SCAN_READERS = (Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN)


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request is too large."


# A scan's latest run and prediction (inference, a layer above this one) are read through
# the scan's reverse relations and shown with these fields: the same JSON as the models'.
class RunSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    model_version = serializers.CharField()
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    timings = serializers.JSONField()


class PredictionSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    model_version = serializers.CharField()
    label = serializers.CharField()
    probabilities = serializers.JSONField()
    p_tumor = serializers.FloatField()
    tumor_suspected = serializers.BooleanField()
    ood = serializers.BooleanField()
    ood_score = serializers.FloatField(allow_null=True)
    ood_reasons = serializers.JSONField()
    created_at = serializers.DateTimeField()


class ScanSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    filename = serializers.CharField(source="original_filename")
    display_name = serializers.CharField(read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    format = serializers.CharField(source="source_format")
    image_url = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()
    run = serializers.SerializerMethodField()
    prediction = serializers.SerializerMethodField()
    dicom = serializers.SerializerMethodField()

    class Meta:
        model = Scan
        fields = [
            "id",
            "filename",
            "display_name",
            "uploaded_by",
            "uploaded_at",
            "format",
            "size_bytes",
            "width",
            "height",
            "status",
            "status_reason",
            "image_url",
            "heatmap_url",
            "run",
            "prediction",
            "dicom",
        ]

    def get_image_url(self, scan) -> str:
        return reverse("api-scan-image", args=[scan.public_id])

    def get_heatmap_url(self, scan) -> str | None:
        prediction = latest_prediction(scan)
        if prediction is None or not prediction.heatmap:
            return None
        return reverse("api-scan-heatmap", args=[scan.public_id])

    def get_run(self, scan) -> dict | None:
        run = latest_run(scan)
        return RunSerializer(run).data if run else None

    def get_prediction(self, scan) -> dict | None:
        prediction = latest_prediction(scan)
        return PredictionSerializer(prediction).data if prediction else None

    def get_dicom(self, scan) -> dict | None:
        """DICOM slices only: where the slice sits, its header window (modality units) and
        the links to its 16-bit pixels and de-identified file (docs/dicom.md)."""
        if scan.series is None:
            return None
        series = scan.series
        return {
            "study": str(series.study.public_id),
            "series": str(series.public_id),
            "series_number": series.series_number,
            "instance_number": scan.instance_number,
            "frame_number": scan.frame_number,
            "modality": series.modality,
            "manufacturer": series.manufacturer,
            "manufacturer_model_name": series.manufacturer_model_name,
            "magnetic_field_strength": series.magnetic_field_strength,
            "bits_stored": scan.bits_stored,
            "window_center": scan.window_center,
            "window_width": scan.window_width,
            "monochrome1": scan.monochrome1,
            # mm between rows, mm between columns; null when the header gives none
            "pixel_spacing": [scan.pixel_spacing_row, scan.pixel_spacing_col]
            if scan.pixel_spacing_row and scan.pixel_spacing_col
            else None,
            "deidentification_method": scan.deidentification_method,
            "pixels_url": reverse("api-scan-pixels", args=[scan.public_id]),
            "dicom_url": reverse("api-scan-dicom", args=[scan.public_id]),
        }


def outcome_data(outcome: UploadOutcome) -> dict:
    if outcome.scan is not None:
        # The prediction may have run since the scan was stored (in-process, after commit).
        outcome.scan.refresh_from_db(fields=["status", "status_reason"])
    scan_status = outcome.scan.status if outcome.scan is not None else None
    if outcome.status == UploadOutcome.CREATED and scan_status == Scan.Status.QUARANTINED:
        message = f"Stored in quarantine for an admin: {outcome.scan.status_reason}"
    elif outcome.status == UploadOutcome.CREATED and scan_status == Scan.Status.PREDICTED:
        message = "Stored and read by the model."
    elif outcome.status == UploadOutcome.CREATED and scan_status == Scan.Status.FAILED:
        message = f"Stored, but the model could not read it: {outcome.scan.status_reason}"
    elif outcome.status == UploadOutcome.CREATED:
        message = "Stored; the model will read it shortly."
    elif outcome.status == UploadOutcome.DUPLICATE:
        message = (
            "Already on file: this exact image was uploaded before, so it was not stored again."
        )
    else:
        message = outcome.error.message
    return {
        "filename": outcome.filename,
        "status": outcome.status,
        "message": message,
        "code": outcome.error.code if outcome.error else None,
        "scan": ScanSerializer(outcome.scan).data if outcome.scan else None,
        "slices": outcome.slices,
    }


UploadResultSerializer = inline_serializer(
    "UploadResults",
    {
        "results": serializers.ListField(child=serializers.DictField()),
    },
)


class ScanListCreateView(generics.ListAPIView):
    """GET: the scans you may see (technologists: their own). POST: upload one or many
    PNG/JPEG files under ``files`` (technologists only; throttled; size-limited)."""

    permission_classes = [HasRole.of(*SCAN_READERS)]
    serializer_class = ScanSerializer
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        mine = self.request.query_params.get("mine") in ("1", "true")
        scans = scan_list_for(self.request.user, mine=mine)
        wanted = self.request.query_params.get("status")
        if wanted in Scan.Status.values:
            scans = scans.filter(status=wanted)
        # ?id=...&id=...: the upload page follows the files it sent, in one request.
        scan_ids = self.request.query_params.getlist("id")
        if scan_ids:
            try:
                scans = scans.filter(public_id__in=[uuid.UUID(s) for s in scan_ids])
            except ValueError:
                scans = scans.none()
        return scans

    def get_throttles(self):
        if self.request.method == "POST":
            throttle = ScopedRateThrottle()
            self.throttle_scope = "upload"
            return [throttle]
        return super().get_throttles()

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":
            _refuse_oversized_body(request)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request=inline_serializer(
            "ScanUpload", {"files": serializers.ListField(child=serializers.FileField())}
        ),
        responses={201: UploadResultSerializer, 200: UploadResultSerializer},
    )
    def post(self, request):
        if not can_upload_scans(request.user):
            self.permission_denied(request, message="Only technologists upload scans.")
        try:
            files = request.FILES.getlist("files")
        except (TooManyFilesSent, RequestDataTooBig) as exc:
            raise _too_large() from exc
        if not files:
            raise ValidationError({"files": ["Attach one or more image files under 'files'."]})
        if len(files) > settings.SCAN_UPLOAD_MAX_FILES:
            raise _too_large()
        outcomes = [
            scan_upload(
                uploaded_by=request.user,
                filename=f.name or "",
                data=_read_limited(f),
                request=request,
            )
            for f in files
        ]
        results = [outcome_data(o) for o in outcomes]
        if all(o.status == UploadOutcome.REJECTED for o in outcomes):
            return _refused(outcomes, results)
        created = any(o.status == UploadOutcome.CREATED for o in outcomes)
        return Response(
            {"results": results}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def _refused(outcomes: list[UploadOutcome], results: list[dict]) -> Response:
    """Every file was refused: answer in the API's error shape, with each file's reason."""
    statuses = {o.error.status for o in outcomes}
    code = statuses.pop() if len(statuses) == 1 else status.HTTP_400_BAD_REQUEST
    first = outcomes[0]
    if len(outcomes) == 1:
        error_code, message = (
            first.error.code,
            f"{first.filename or 'The file'}: {first.error.message}",
        )
    else:
        error_code, message = "all_rejected", f"None of the {len(outcomes)} files was accepted."
    body = {
        "status": code,
        "code": error_code,
        "message": message,
        "details": {"results": results},
    }
    # 503: the store or the database failed and nothing was kept; the same request may be
    # sent again.
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code == 503 else None
    return Response({"error": body}, status=code, headers=headers)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Too many files or too large a request: at most {settings.SCAN_UPLOAD_MAX_FILES} files "
        f"and {settings.SCAN_UPLOAD_MAX_BATCH_BYTES:,} bytes per request; nothing was stored."
    )


def _refuse_oversized_body(request) -> None:
    """Refuse by Content-Length before the body is read, so a huge batch costs nothing."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.SCAN_UPLOAD_MAX_BATCH_BYTES:
        raise _too_large()
    # Parse now, before authentication's CSRF check does: Django's own file-count and
    # field-size limits then surface here, answered as 413 in the API's words.
    try:
        count = len(request._request.FILES.getlist("files"))
    except (TooManyFilesSent, RequestDataTooBig) as exc:
        raise _too_large() from exc
    if count > settings.SCAN_UPLOAD_MAX_FILES:
        raise _too_large()


def _read_limited(upload) -> bytes:
    """Read at most one byte over the per-file limit: enough for ingest to refuse it."""
    upload.seek(0)
    return upload.read(settings.SCAN_UPLOAD_MAX_FILE_BYTES + 1)


class ScanDetailView(generics.RetrieveAPIView):
    """One scan with its latest inference run and prediction."""

    permission_classes = [HasRole.of(*SCAN_READERS)]
    serializer_class = ScanSerializer

    def get_object(self):
        scan = scan_detail(self.request.user, self.kwargs["public_id"])
        scan_access_record(scan=scan, action=Action.SCAN_VIEWED, request=self.request)
        return scan


class ScanImageView(APIView):
    """The stored image (PNG), as an attachment."""

    permission_classes = [HasRole.of(*SCAN_READERS)]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        response = stored_png_response(scan.image.name, f"scan-{scan.public_id}.png")
        scan_access_record(scan=scan, action=Action.SCAN_IMAGE_VIEWED, request=request)
        return response


class ScanHeatmapView(APIView):
    """The Grad-CAM overlay of the latest prediction (PNG), as an attachment."""

    permission_classes = [HasRole.of(*SCAN_READERS)]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, public_id):
        scan = scan_detail(request.user, public_id)
        prediction = latest_prediction(scan)
        key = prediction.heatmap.name if prediction and prediction.heatmap else ""
        response = stored_png_response(key, f"heatmap-{scan.public_id}.png")
        scan_access_record(scan=scan, action=Action.SCAN_HEATMAP_VIEWED, request=request)
        return response
