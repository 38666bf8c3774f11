"""Top-level URL map: pages first, then the versioned API."""

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Django's own admin has no sign-in page of its own: its login view sends a visitor to the
# site's sign-in (lockout, audit, idle expiry), and lets in only staff once signed in.
admin.site.login = login_required(admin.site.login)

urlpatterns = [
    path("", include("tumorapp.core.urls")),
    path("accounts/", include("tumorapp.accounts.urls")),
    path("audit/", include("tumorapp.audit.urls")),
    path("scans/", include("tumorapp.scans.urls")),
    path("dicom/traffic/", include("tumorapp.results.urls")),
    path("dicom/", include("tumorapp.dicom.urls")),
    path("worklist/", include("reviews.urls")),
    path("quality/", include("tumorapp.quality.urls")),
    path("datasets/", include("tumorapp.datasets.urls")),
    path("models/", include("tumorapp.registry.urls")),
    path("django-admin/", admin.site.urls),
    path("api/v1/", include("tumorapp.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]

# A URL under /api/ that matches no route answers in the API's JSON error shape.
handler404 = "tumorapp.api.errors.not_found"
# A database outage answers 503 with Retry-After, on pages as in the API.
handler500 = "tumorapp.api.errors.server_error"
