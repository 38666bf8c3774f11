from django.urls import path

from tumorapp.accounts import admin_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("session/", views.SessionView.as_view(), name="session"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("users/", admin_views.UserListView.as_view(), name="user_list"),
    path("users/new/", admin_views.UserCreateView.as_view(), name="user_create"),
    path("users/<uuid:public_id>/", admin_views.UserDetailView.as_view(), name="user_detail"),
    path(
        "users/<uuid:public_id>/deactivate/",
        admin_views.UserDeactivateView.as_view(),
        name="user_deactivate",
    ),
    path(
        "users/<uuid:public_id>/activate/",
        admin_views.UserActivateView.as_view(),
        name="user_activate",
    ),
    path(
        "users/<uuid:public_id>/reset-password/",
        admin_views.UserPasswordResetView.as_view(),
        name="user_password_reset",
    ),
]
