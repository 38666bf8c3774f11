from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from tumorapp.accounts.views import locked_out
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    username = serializers.CharField()
    full_name = serializers.CharField(source="get_full_name")
    role = serializers.CharField(allow_null=True)


class MeView(APIView):
    """The signed-in user and their role."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class TokenView(ObtainAuthToken):
    """Exchange a username and password for an API token (throttled, audited)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):
                # django-axes flags the DRF request, which its middleware never sees
                return locked_out(request)
            audit_record(
                action=Action.LOGIN_FAILED,
                request=request,
                details={"username": str(request.data.get("username", ""))[:150], "via": "api"},
            )
            serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        if user.must_change_password:
            # an admin-issued password only opens the password form, never an API token
            raise PermissionDenied(
                "Choose a new password on the website before using the API.",
                code="password_change_required",
            )
        token, _ = Token.objects.get_or_create(user=user)
        audit_record(action=Action.LOGIN, actor=user, request=request, details={"via": "api"})
        return Response({"token": token.key})
