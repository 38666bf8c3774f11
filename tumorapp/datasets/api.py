"""API v1: dataset exports (data team)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reviews.models import Case, ReadLabel
from tumorapp.accounts.access import HasRole
from tumorapp.accounts.roles import Role
from tumorapp.datasets import selectors, services
from tumorapp.datasets.forms import CompareForm
from tumorapp.datasets.models import DatasetExport


class ExportSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    parent = serializers.CharField(source="parent.version_id", read_only=True, default="")
    progress = serializers.IntegerField(source="percent", read_only=True)

    class Meta:
        model = DatasetExport
        fields = [
            "id",
            "status",
            "progress",
            "reviewed_from",
            "reviewed_to",
            "resolutions",
            "labels",
            "correction",
            "include_unreadable",
            "include_poor_quality",
            "total",
            "done",
            "version_id",
            "parent",
            "changes",
            "counts",
            "size_bytes",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class ExportCreateSerializer(serializers.Serializer):
    reviewed_from = serializers.DateField(required=False, allow_null=True)
    reviewed_to = serializers.DateField(required=False, allow_null=True)
    # Checked by export_create (plain strings here keep one enum per choice set in the schema).
    resolutions = serializers.ListField(
        child=serializers.CharField(max_length=16),
        required=False,
        help_text="label sources: " + ", ".join(Case.Resolution.values),
    )
    labels = serializers.ListField(
        child=serializers.CharField(max_length=16),
        required=False,
        help_text="final classes: " + ", ".join(ReadLabel.values),
    )
    correction = serializers.ChoiceField(
        DatasetExport.Correction.choices, default=DatasetExport.Correction.ANY
    )
    include_unreadable = serializers.BooleanField(
        default=False, help_text="include cases answered unreadable / not a brain MRI"
    )
    include_poor_quality = serializers.BooleanField(
        default=False, help_text="include cases a reader marked poor image quality"
    )


class ExportListApi(generics.ListAPIView):
    """Dataset exports, newest first; POST starts a new one (built by a worker)."""

    permission_classes = [HasRole.of(Role.DATA_TEAM)]
    serializer_class = ExportSerializer

    def get_queryset(self):
        return selectors.exports_list()

    @extend_schema(request=ExportCreateSerializer, responses={202: ExportSerializer})
    def post(self, request):
        data = ExportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            export = services.export_create(
                actor=request.user, request=request, **data.validated_data
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(generics.RetrieveAPIView):
    permission_classes = [HasRole.of(Role.DATA_TEAM)]
    serializer_class = ExportSerializer

    def get_object(self):
        try:
            return selectors.export_detail(public_id=self.kwargs["public_id"])
        except DatasetExport.DoesNotExist:
            raise Http404 from None


class ChangeSerializer(serializers.Serializer):
    image_sha256 = serializers.CharField()
    split = serializers.CharField()
    label_before = serializers.CharField(help_text="empty for an added image")
    label_after = serializers.CharField(help_text="empty for a removed image")
    scan_id = serializers.CharField(help_text="pseudonymous scan id, as in the zip and manifest")


class ChangeSectionSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = ChangeSerializer(
        source="rows", many=True, help_text=f"the first {selectors.CHANGES_LISTED}"
    )


class ClassCountSerializer(serializers.Serializer):
    label = serializers.CharField()
    before = serializers.IntegerField()
    after = serializers.IntegerField()


class ExportChangesSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="export.public_id")
    version_id = serializers.CharField(source="export.version_id")
    against = serializers.UUIDField(source="parent.public_id")
    against_version_id = serializers.CharField(source="parent.version_id")
    added = ChangeSectionSerializer()
    removed = ChangeSectionSerializer()
    relabelled = ChangeSectionSerializer()
    classes = ClassCountSerializer(many=True)


class ExportChangesApi(APIView):
    """Images added, removed and relabelled since the export's parent (or ``against``), by
    image hash, and the images per class on both sides."""

    permission_classes = [HasRole.of(Role.DATA_TEAM)]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "against",
                OpenApiTypes.UUID,
                description="an earlier succeeded export (default: the export's parent)",
            )
        ],
        responses={200: ExportChangesSerializer},
    )
    def get(self, request, public_id):
        try:
            export = selectors.export_detail(
                public_id=public_id, status=DatasetExport.Status.SUCCEEDED
            )
        except DatasetExport.DoesNotExist:
            raise Http404 from None
        form = CompareForm(request.query_params or None, export=export)
        if form.is_bound and not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        against = form.cleaned_data["against"] if form.is_bound else None
        changes = selectors.export_changes(
            export=export, parent=against, limit=selectors.CHANGES_LISTED
        )
        if changes is None:
            raise NotFound("This export has no parent; name an earlier export with ?against=.")
        return Response(ExportChangesSerializer(changes).data)
