"""API v1 for the review workflow: claim the next case, submit a read, release a case."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reviews import services
from reviews.models import Case, SiteOptions
from reviews.serializers import (
    AiAnswerSerializer,
    CaseSerializer,
    ReviewInSerializer,
    ReviewOutSerializer,
)
from tumorapp.accounts.access import HasRole
from tumorapp.accounts.roles import Role


class NextCaseOut(serializers.Serializer):
    case = CaseSerializer()
    ai = AiAnswerSerializer(allow_null=True, help_text="null while a blind read hides it")


class NextCaseApi(APIView):
    """Claim the most urgent free case (204 when none waits)."""

    permission_classes = [HasRole.of(Role.RADIOLOGIST)]

    @extend_schema(request=None, responses={200: NextCaseOut, 204: None})
    def post(self, request):
        case = services.case_claim_next(reader=request.user, request=request)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        hidden = services.ai_is_hidden(case=case, options=SiteOptions.current())
        return Response(
            {
                "case": CaseSerializer(case).data,
                "ai": None if hidden else AiAnswerSerializer(case).data,
            }
        )


def _claimed_case(request, public_id) -> Case:
    return get_object_or_404(
        Case.objects.select_related("prediction"), public_id=public_id, claimed_by=request.user
    )


def _as_api_error(error: DjangoValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class SubmitReviewApi(APIView):
    """Record a read on a case the caller holds."""

    permission_classes = [HasRole.of(Role.RADIOLOGIST)]

    @extend_schema(request=ReviewInSerializer, responses={201: ReviewOutSerializer})
    def post(self, request, public_id):
        case = _claimed_case(request, public_id)
        body = ReviewInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            review = services.review_submit(
                case=case, reader=request.user, request=request, **body.validated_data
            )
        except DjangoValidationError as error:
            raise _as_api_error(error) from error
        return Response(ReviewOutSerializer(review).data, status=status.HTTP_201_CREATED)


class ReleaseCaseApi(APIView):
    """Give a held case back to the queue."""

    permission_classes = [HasRole.of(Role.RADIOLOGIST)]

    @extend_schema(request=None, responses={204: None})
    def post(self, request, public_id):
        case = _claimed_case(request, public_id)
        try:
            services.case_release(case=case, reader=request.user, request=request)
        except DjangoValidationError as error:
            raise _as_api_error(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)
