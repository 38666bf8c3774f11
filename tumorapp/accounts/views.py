import time

from axes.conf import settings as axes_settings
from axes.helpers import get_client_username, get_cool_off
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views import View

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.core.middleware import IdleSessionMiddleware, idle_minutes_for


def wants_json(request) -> bool:
    """A page's script signing in again in place (static/js/session.js) asks for JSON."""
    return request.headers.get("Accept", "").startswith("application/json")


def session_state(request) -> dict:
    """What a page's script needs to keep its work across an idle sign-out: who is signed in,
    how long until the idle limit, and the CSRF token to post with now (login rotates it)."""
    user = request.user
    state = {"authenticated": user.is_authenticated, "csrf_token": get_token(request)}
    if user.is_authenticated:
        limit = round(idle_minutes_for(user) * 60)
        last = request.session.get(IdleSessionMiddleware.KEY, int(time.time()))
        state |= {
            "username": user.get_username(),
            "idle_seconds": limit,
            "remaining_seconds": max(0, limit - (int(time.time()) - last)),
        }
    return state


class SessionView(View):
    """GET: the session's state (``session_state``). Sent with X-Background-Refresh it is
    checked but is not activity (the idle warning asks it); without, it is ("stay signed
    in"). Open to anyone: a signed-out page asks it for the token to sign in with."""

    def get(self, request):
        response = JsonResponse(session_state(request))
        response["Cache-Control"] = "no-store"
        return response


class LoginView(auth_views.LoginView):
    """The sign-in page; asked for JSON (``wants_json``) it answers the session's state
    instead of redirecting, so a page can sign in again in place and keep what it holds."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        if wants_json(request) and request.user.is_authenticated:
            return JsonResponse(session_state(request))
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(action=Action.LOGIN, actor=form.get_user(), request=self.request)
        if wants_json(self.request):
            return JsonResponse(session_state(self.request))
        return response

    def form_invalid(self, form):
        if not getattr(self.request, "axes_locked_out", False):  # else locked_out() audits
            audit_record(
                action=Action.LOGIN_FAILED,
                request=self.request,
                details={"username": self.request.POST.get("username", "")[:150]},
            )
        if wants_json(self.request):
            errors = " ".join(form.non_field_errors()) or "Enter your password."
            return JsonResponse({"authenticated": False, "error": errors}, status=400)
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            audit_record(action=Action.LOGOUT, actor=request.user, request=request)
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("core:home")

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.user
        if user.must_change_password:
            user.must_change_password = False
            user.save(update_fields=["must_change_password"])
        audit_record(action=Action.PASSWORD_CHANGED, actor=user, request=self.request)
        messages.success(self.request, "Your password was changed.")
        return response


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): called for the attempt that
    reaches the limit and for every attempt while the lock holds, right password or not.
    Each such attempt is one LOCKED_OUT event."""
    username = get_client_username(request, credentials) or ""
    audit_record(
        action=Action.LOCKED_OUT,
        request=request,
        details={"username": str(username)[:150]},
    )
    status = axes_settings.AXES_HTTP_RESPONSE_CODE
    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else None
    if request.path.startswith("/api/") or wants_json(request):
        return JsonResponse(
            {
                "error": {
                    "status": status,
                    "code": "locked_out",
                    "message": "Too many failed sign-in attempts; try again later.",
                }
            },
            status=status,
            headers={"Retry-After": str(int(cool_off.total_seconds()))} if cool_off else None,
        )
    return render(request, "accounts/locked_out.html", {"cooloff_minutes": minutes}, status=status)
