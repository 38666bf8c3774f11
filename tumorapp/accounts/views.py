from axes.conf import settings as axes_settings
from axes.helpers import get_client_username, get_cool_off
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(action=Action.LOGIN, actor=form.get_user(), request=self.request)
        return response

    def form_invalid(self, form):
        if getattr(self.request, "axes_locked_out", False):
            return super().form_invalid(form)  # locked_out() audits this attempt
        audit_record(
            action=Action.LOGIN_FAILED,
            request=self.request,
            details={"username": self.request.POST.get("username", "")[:150]},
        )
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
    if request.path.startswith("/api/"):
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
