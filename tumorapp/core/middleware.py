import re
import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect

from tumorapp.accounts.roles import CLINICAL_ROLES
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Tag every request with an id (kept from a proxy's X-Request-ID when it is sane), so an
    audit event, a log line and a user's error report can be matched up."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class IdleSessionMiddleware:
    """Sign a user out after a stretch without requests, shorter for clinical roles whose
    workstations are shared (settings SESSION_IDLE_MINUTES_CLINICAL / _OTHER).

    The time of the last request is kept in the session and checked on the server, so the
    limit holds whatever the browser does with its cookie; the cookie itself still ends with
    the browser (SESSION_EXPIRE_AT_BROWSER_CLOSE). Background refreshes (header
    ``X-Background-Refresh: 1``) are checked but do not count as activity.
    """

    KEY = "_last_activity"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            limit = idle_minutes_for(user)
            now = int(time.time())
            last = request.session.get(self.KEY)
            if last is not None and now - last > limit * 60:
                self._expire(request, user, limit)
            elif not is_background(request):
                request.session[self.KEY] = now
        return self.get_response(request)

    @staticmethod
    def _expire(request, user, limit: int) -> None:
        audit_record(
            action=Action.SESSION_EXPIRED,
            actor=user,
            request=request,
            details={"idle_minutes": limit},
        )
        logout(request)
        messages.info(request, f"You were signed out after {limit} minutes without activity.")


BACKGROUND_HEADER = "HTTP_X_BACKGROUND_REFRESH"


def is_background(request) -> bool:
    """A page refreshing itself (the worklist every 30 s) is not the user being active: it
    must not keep an unattended workstation signed in."""
    return request.META.get(BACKGROUND_HEADER) == "1"


def idle_minutes_for(user) -> int:
    if user.role in CLINICAL_ROLES:
        return settings.SESSION_IDLE_MINUTES_CLINICAL
    return settings.SESSION_IDLE_MINUTES_OTHER


class PasswordChangeRequiredMiddleware:
    """A user whose password was issued by an admin must choose their own before anything
    else: pages redirect to the password form, the API answers 403."""

    EXEMPT = frozenset({"accounts:password_change", "accounts:logout", "core:health"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not (user.is_authenticated and user.must_change_password):
            return None
        if request.resolver_match.view_name in self.EXEMPT:
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(
                {
                    "error": {
                        "status": 403,
                        "code": "password_change_required",
                        "message": "Choose a new password before using the API.",
                    }
                },
                status=403,
            )
        return redirect("accounts:password_change")
