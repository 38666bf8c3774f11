"""API v1: dataset exports (data team)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from reviews.models import Case, TumourClass
from tumorapp.accounts.access import HasRole
from tumorapp.accounts.roles import Role
from tumorapp.datasets import selectors, services
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
        help_text="final classes: " + ", ".join(TumourClass.values),
    )
    correction = serializers.ChoiceField(
        DatasetExport.Correction.choices, default=DatasetExport.Correction.ANY
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
