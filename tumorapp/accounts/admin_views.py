"""User management pages for the admin role (Django's own admin site stays for superusers)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, ListView

from tumorapp.accounts import rules, services
from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.forms import UserCreateForm, UserFilterForm, UserProfileForm
from tumorapp.accounts.models import User
from tumorapp.accounts.selectors import users_for_admin
from tumorapp.audit.selectors import audit_events
from tumorapp.core import confirm


def _show_password_once(request, user: User, password: str, *, created: bool):
    """Render the temporary password in this response only: never stored, never cached."""
    response = render(
        request,
        "accounts/user_password_issued.html",
        {"managed": user, "password": password, "created": created},
    )
    add_never_cache_headers(response)
    return response


class UserListView(RoleRequiredMixin, ListView):
    roles = rules.USER_ADMIN_ROLES
    template_name = "accounts/user_list.html"
    context_object_name = "managed_users"
    paginate_by = 50

    def get_queryset(self):
        self.filters = UserFilterForm(self.request.GET or None)
        data = self.filters.cleaned_data if self.filters.is_valid() else {}
        return users_for_admin(
            q=data.get("q", ""), role=data.get("role", ""), status=data.get("status", "")
        )

    def get_context_data(self, **kwargs):
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(filters=self.filters, query=query.urlencode(), **kwargs)


class UserCreateView(RoleRequiredMixin, FormView):
    roles = rules.USER_ADMIN_ROLES
    template_name = "accounts/user_form.html"
    form_class = UserCreateForm

    def form_valid(self, form):
        data = form.cleaned_data
        temporary = data["password_mode"] == UserCreateForm.ISSUE_TEMPORARY
        password = services.temporary_password() if temporary else None
        user = services.user_create(
            username=data["username"],
            role=form.cleaned_role(),
            password=password,
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            actor=self.request.user,
            request=self.request,
            validate=False,
        )
        if password:
            return _show_password_once(self.request, user, password, created=True)
        messages.success(
            self.request, f"Created {user.username}. Reset the password to let them sign in."
        )
        return redirect("accounts:user_detail", public_id=user.public_id)


class UserDetailView(RoleRequiredMixin, FormView):
    """One user: edit name, e-mail and role; activate, deactivate, reset the password; and
    the latest audit events about them."""

    roles = rules.USER_ADMIN_ROLES
    template_name = "accounts/user_detail.html"
    form_class = UserProfileForm

    @cached_property
    def managed(self) -> User:
        return get_object_or_404(User, public_id=self.kwargs["public_id"])

    def get_initial(self):
        user = self.managed
        role = user.role
        return {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "role": role.value if role else "",
        }

    def get_context_data(self, **kwargs):
        events = audit_events(target=str(self.managed.public_id))[:10]
        return super().get_context_data(
            managed=self.managed,
            is_self=self.managed.pk == self.request.user.pk,
            events=events,
            **kwargs,
        )

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            services.user_update(
                user=self.managed,
                actor=self.request.user,
                request=self.request,
                role=form.cleaned_role(),
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Saved {self.managed.username}.")
        return redirect("accounts:user_detail", public_id=self.managed.public_id)


class _UserActionView(RoleRequiredMixin, View):
    """A POST-only button on the user page: call one service, say what happened."""

    roles = rules.USER_ADMIN_ROLES
    http_method_names = ["post"]
    done = ""  # subclasses also set ``service``, one of the user services

    def post(self, request, public_id):
        user = get_object_or_404(User, public_id=public_id)
        try:
            result = self.service(user=user, actor=request.user, request=request)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("accounts:user_detail", public_id=user.public_id)
        return self.respond(user, result)

    def respond(self, user: User, result):
        messages.success(self.request, self.done.format(username=user.username))
        return redirect("accounts:user_detail", public_id=user.public_id)


class UserDeactivateView(_UserActionView):
    """GET states what deactivating does; the POST there, with ``confirm=yes``, does it."""

    service = staticmethod(services.user_deactivate)
    done = "Deactivated {username}: they are signed out and cannot sign in."
    http_method_names = ["get", "post"]

    def get(self, request, public_id):
        user = get_object_or_404(User, public_id=public_id)
        return render(
            request,
            "accounts/user_deactivate_confirm.html",
            {"managed": user, "is_self": user.pk == request.user.pk},
        )

    def post(self, request, public_id):
        if not confirm.confirmed(request):
            return confirm.ask_again(request, "accounts:user_deactivate", public_id=public_id)
        return super().post(request, public_id)


class UserActivateView(_UserActionView):
    service = staticmethod(services.user_activate)
    done = "Activated {username}."


class UserPasswordResetView(_UserActionView):
    service = staticmethod(services.user_force_password_reset)

    def respond(self, user: User, result):
        return _show_password_once(self.request, user, result, created=False)
