"""API v1: model versions and training jobs; promotion and rollback (admins)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from tumorapp.accounts.access import HasRole
from tumorapp.accounts.roles import Role
from tumorapp.datasets.models import DatasetExport
from tumorapp.registry import selectors, services
from tumorapp.registry.models import Comparison, ModelVersion, TrainingJob


def _validation(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


class ModelVersionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    parent = serializers.CharField(source="parent.version", read_only=True, default="")
    replaces = serializers.CharField(source="replaces.version", read_only=True, default="")
    training_exports = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="version_id"
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "version",
            "status",
            "parent",
            "replaces",
            "metrics",
            "training_exports",
            "training_data",
            "created_at",
            "activated_at",
            "retired_at",
        ]
        read_only_fields = fields


class TrainingJobSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    exports = serializers.SlugRelatedField(many=True, read_only=True, slug_field="version_id")
    init_from = serializers.CharField(source="init_from.version", read_only=True, default="")
    candidate = serializers.CharField(source="candidate.version", read_only=True, default="")

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "status",
            "progress",
            "version",
            "exports",
            "include_base",
            "base_excluded_reason",
            "init_from",
            "epochs",
            "learning_rate",
            "frozen_blocks",
            "phase",
            "phase_seconds",
            "log_tail",
            "error",
            "candidate",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class TrainingCreateSerializer(serializers.Serializer):
    exports = serializers.SlugRelatedField(
        many=True,
        slug_field="public_id",
        queryset=DatasetExport.objects.filter(status=DatasetExport.Status.SUCCEEDED),
        required=False,
    )
    include_base = serializers.BooleanField(
        default=True, help_text="Replay the base data (the default); false needs a reason."
    )
    base_excluded_reason = serializers.CharField(required=False, allow_blank=True, default="")
    init_from = serializers.SlugRelatedField(
        slug_field="public_id",
        queryset=ModelVersion.objects.all(),
        required=False,
        allow_null=True,
        help_text="The version to fine-tune; the active one when omitted.",
    )
    from_scratch = serializers.BooleanField(default=False)
    epochs = serializers.IntegerField(
        min_value=1, max_value=200, required=False, allow_null=True, default=None
    )
    learning_rate = serializers.FloatField(
        min_value=0, max_value=1, required=False, allow_null=True, default=None
    )


class ModelListApi(generics.ListAPIView):
    permission_classes = [HasRole.of(Role.ADMIN, Role.DATA_TEAM)]
    serializer_class = ModelVersionSerializer

    def get_queryset(self):
        return selectors.models_list()


class ModelDetailApi(generics.RetrieveAPIView):
    permission_classes = [HasRole.of(Role.ADMIN, Role.DATA_TEAM)]
    serializer_class = ModelVersionSerializer

    def get_object(self):
        try:
            return selectors.model_detail(public_id=self.kwargs["public_id"])
        except ModelVersion.DoesNotExist:
            raise Http404 from None


class ConfirmSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(
        help_text="Must be true: the model that reads every new scan changes at once."
    )

    def validate_confirm(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(
                "Set confirm to true: the model that reads every new scan changes at once."
            )
        return value


class PromoteSerializer(ConfirmSerializer):
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed when the newest comparison with the active version shows a "
        "regression (the non-regression gate); audited.",
    )


class PromoteApi(APIView):
    """Make this version the active one (workers use it for the next scan). Needs
    ``"confirm": true``. Refused (400) when its comparison with the active version shows a
    regression, unless ``override_reason`` says why."""

    permission_classes = [HasRole.of(Role.ADMIN)]

    @extend_schema(request=PromoteSerializer, responses=ModelVersionSerializer)
    def post(self, request, public_id):
        model = ModelVersion.objects.filter(public_id=public_id).first()
        if model is None:
            raise Http404
        data = PromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            model = services.model_promote(
                model=model,
                actor=request.user,
                override_reason=data.validated_data["override_reason"],
                request=request,
            )
        except DjangoValidationError as exc:
            raise _validation(exc) from exc
        return Response(ModelVersionSerializer(model).data)


class RollbackApi(APIView):
    """Bring back the version the active one replaced. Needs ``"confirm": true``."""

    permission_classes = [HasRole.of(Role.ADMIN)]

    @extend_schema(
        request=ConfirmSerializer,
        responses={
            200: ModelVersionSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Not confirmed, or nothing to roll back to."
            ),
        },
    )
    def post(self, request):
        ConfirmSerializer(data=request.data).is_valid(raise_exception=True)
        try:
            model = services.model_rollback(actor=request.user, request=request)
        except DjangoValidationError as exc:
            raise _validation(exc) from exc
        return Response(ModelVersionSerializer(model).data)


class TrainingListApi(generics.ListAPIView):
    """Training jobs, newest first; POST starts one on the worker's training queue."""

    permission_classes = [HasRole.of(Role.DATA_TEAM)]
    serializer_class = TrainingJobSerializer

    def get_queryset(self):
        return selectors.training_jobs().prefetch_related("exports")

    @extend_schema(request=TrainingCreateSerializer, responses={202: TrainingJobSerializer})
    def post(self, request):
        data = TrainingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = services.training_job_create(
                actor=request.user,
                exports=list(data.validated_data.get("exports", [])),
                include_base=data.validated_data["include_base"],
                base_excluded_reason=data.validated_data["base_excluded_reason"],
                init_from=data.validated_data.get("init_from"),
                from_scratch=data.validated_data["from_scratch"],
                epochs=data.validated_data["epochs"],
                learning_rate=data.validated_data["learning_rate"],
                request=request,
            )
        except DjangoValidationError as exc:
            raise _validation(exc) from exc
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class TrainingDetailApi(generics.RetrieveAPIView):
    permission_classes = [HasRole.of(Role.DATA_TEAM)]
    serializer_class = TrainingJobSerializer

    def get_object(self):
        job = selectors.training_jobs().filter(public_id=self.kwargs["public_id"]).first()
        if job is None:
            raise Http404
        return job


class ComparisonSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    candidate = serializers.CharField(source="candidate.version", read_only=True)
    baseline = serializers.CharField(source="baseline.version", read_only=True)
    export = serializers.CharField(source="export.version_id", read_only=True, default="")

    class Meta:
        model = Comparison
        fields = [
            "id",
            "status",
            "progress",
            "candidate",
            "baseline",
            "export",
            "include_base_testing",
            "result",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class ComparisonCreateSerializer(serializers.Serializer):
    candidate = serializers.SlugRelatedField(
        slug_field="public_id", queryset=ModelVersion.objects.all()
    )
    export = serializers.SlugRelatedField(
        slug_field="public_id",
        queryset=DatasetExport.objects.filter(status=DatasetExport.Status.SUCCEEDED),
        required=False,
        allow_null=True,
    )
    include_base_testing = serializers.BooleanField(default=False)


class ComparisonListApi(generics.ListAPIView):
    """Comparisons of a candidate with the active version; POST starts one (worker)."""

    permission_classes = [HasRole.of(Role.ADMIN, Role.DATA_TEAM)]
    serializer_class = ComparisonSerializer

    def get_queryset(self):
        return selectors.comparisons()

    @extend_schema(request=ComparisonCreateSerializer, responses={202: ComparisonSerializer})
    def post(self, request):
        data = ComparisonCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            comparison = services.comparison_create(
                actor=request.user,
                candidate=data.validated_data["candidate"],
                export=data.validated_data.get("export"),
                include_base_testing=data.validated_data["include_base_testing"],
                request=request,
            )
        except DjangoValidationError as exc:
            raise _validation(exc) from exc
        return Response(ComparisonSerializer(comparison).data, status=status.HTTP_202_ACCEPTED)


class ComparisonDetailApi(generics.RetrieveAPIView):
    permission_classes = [HasRole.of(Role.ADMIN, Role.DATA_TEAM)]
    serializer_class = ComparisonSerializer

    def get_object(self):
        comparison = selectors.comparisons().filter(public_id=self.kwargs["public_id"]).first()
        if comparison is None:
            raise Http404
        return comparison
