from django.contrib import messages
from django.contrib.auth import views as auth_views
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
