from django.urls import path

from tumorapp.quality import api

urlpatterns = [
    path("quality/", api.QualityReportApi.as_view(), name="api-quality"),
]
