from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tumorapp.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"
