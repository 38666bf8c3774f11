"""API v1: the quality figures as JSON, for other monitoring."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from tumorapp.accounts.access import HasRole
from tumorapp.accounts.roles import Role
from tumorapp.quality import selectors
from tumorapp.quality.forms import QualityFilterForm


class QualityReportApi(APIView):
    """Model vs final label, input drift, workflow and automation-bias figures."""

    permission_classes = [HasRole.of(Role.ADMIN, Role.DATA_TEAM)]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "start", OpenApiTypes.DATE, description="first day (default: 90 days ago)"
            ),
            OpenApiParameter("end", OpenApiTypes.DATE, description="last day (default: today)"),
            OpenApiParameter("model_version", str, description="one model version (default: all)"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        form = QualityFilterForm(request.query_params or None, versions=selectors.model_versions())
        if request.query_params and not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        return Response(selectors.quality_report(filters=form.filters()))
