"""API v1. Each app adds its routes here."""

from django.urls import include, path

from tumorapp.api import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("", include("tumorapp.scans.api_urls")),
    path("", include("tumorapp.dicom.api_urls")),
    path("", include("reviews.api_urls")),
    path("", include("tumorapp.quality.api_urls")),
    path("", include("tumorapp.datasets.api_urls")),
    path("", include("tumorapp.registry.api_urls")),
]
