"""Forms of the user-management pages. They validate input; the services do the writing."""

from __future__ import annotations

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from tumorapp.accounts.models import User
from tumorapp.accounts.roles import Role


class UserFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, username or e-mail"}),
    )
    role = forms.ChoiceField(required=False, choices=[("", "Any role"), *Role.choices])
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Active and inactive"), ("active", "Active"), ("inactive", "Inactive")],
    )


class UserProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False, label="E-mail")
    role = forms.ChoiceField(choices=Role.choices)

    def cleaned_role(self) -> Role:
        return Role(self.cleaned_data["role"])


class UserCreateForm(UserProfileForm):
    ISSUE_TEMPORARY = "temporary"
    ISSUE_NOTHING = "none"

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
    )
    password_mode = forms.ChoiceField(
        label="First sign-in",
        widget=forms.RadioSelect,
        initial=ISSUE_TEMPORARY,
        choices=[
            (ISSUE_TEMPORARY, "Issue a temporary password now (shown once)"),
            (ISSUE_NOTHING, "No password yet: the account cannot sign in until you reset it"),
        ],
    )

    # No preselected role: choosing one is a deliberate act.
    role = forms.ChoiceField(choices=[("", "Choose a role"), *Role.choices])

    field_order = ["username", "first_name", "last_name", "email", "role", "password_mode"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with that username already exists.")
        return username
