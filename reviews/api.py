"""API v1 for the review workflow: claim the next case, submit a read, release a case."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reviews import selectors, services
from reviews.models import Case, SiteOptions
from reviews.serializers import (
    AiAnswerSerializer,
    AmendInSerializer,
    AssignInSerializer,
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
        options = SiteOptions.current()
        case = services.case_claim_next(reader=request.user, request=request, options=options)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        hidden = services.ai_is_hidden(case=case, options=options)
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
    """Record a read on a case the caller holds.

    Safe to retry: a client that lost the answer (connection dropped after the commit) and
    sends the same class again gets the stored read back with 200; a different class is 409.
    """

    permission_classes = [HasRole.of(Role.RADIOLOGIST)]

    @extend_schema(
        request=ReviewInSerializer,
        responses={
            201: ReviewOutSerializer,
            200: ReviewOutSerializer,
            409: OpenApiResponse(description="A different read was already submitted."),
        },
    )
    def post(self, request, public_id):
        # The service locks the row and reads it again (with its prediction).
        case = Case.objects.filter(public_id=public_id, claimed_by=request.user).first()
        if case is None:
            return _replay(request, public_id)
        body = ReviewInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            review = services.review_submit(
                case=case, reader=request.user, request=request, **body.validated_data
            )
        except DjangoValidationError as error:
            raise _as_api_error(error) from error
        return Response(ReviewOutSerializer(review).data, status=status.HTTP_201_CREATED)


def _replay(request, public_id) -> Response:
    """The caller does not hold the case: answer a repeat of their own read, else 404."""
    earlier = selectors.review_by_reader(case_public_id=public_id, reader=request.user)
    if earlier is None:
        raise NotFound()
    body = ReviewInSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    if earlier.label != body.validated_data["label"]:
        raise Conflict()
    return Response(ReviewOutSerializer(earlier).data, status=status.HTTP_200_OK)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "You already submitted a different read of this case."
    default_code = "conflict"


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


class AmendCaseApi(APIView):
    """Amend the final class of a reported case (any radiologist; reason and note required)."""

    permission_classes = [HasRole.of(Role.RADIOLOGIST)]

    @extend_schema(request=AmendInSerializer, responses={201: ReviewOutSerializer})
    def post(self, request, public_id):
        case = get_object_or_404(Case, public_id=public_id)
        body = AmendInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            review = services.case_amend(
                case=case, reader=request.user, request=request, **body.validated_data
            )
        except DjangoValidationError as error:
            raise _as_api_error(error) from error
        return Response(ReviewOutSerializer(review).data, status=status.HTTP_201_CREATED)


class AssignCaseApi(APIView):
    """Put an open case in one radiologist's queue, or back in everyone's (assignee null)."""

    permission_classes = [HasRole.of(Role.RADIOLOGIST)]

    @extend_schema(request=AssignInSerializer, responses={200: CaseSerializer})
    def post(self, request, public_id):
        case = get_object_or_404(Case, public_id=public_id)
        body = AssignInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignee = None
        if body.validated_data["assignee"]:
            assignee = (
                get_user_model().objects.filter(username=body.validated_data["assignee"]).first()
            )
            if assignee is None:
                raise ValidationError({"assignee": ["No such user."]})
        try:
            case = services.case_assign(
                case=case, actor=request.user, assignee=assignee, request=request
            )
        except DjangoValidationError as error:
            raise _as_api_error(error) from error
        return Response(CaseSerializer(case).data)
