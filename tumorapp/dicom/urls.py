from django.urls import path

from tumorapp.dicom import views

app_name = "dicom"

urlpatterns = [
    path("studies/<uuid:public_id>/", views.StudyView.as_view(), name="study"),
    path("scans/<uuid:public_id>/pixels/", views.PixelsView.as_view(), name="pixels"),
    path("scans/<uuid:public_id>/dicom/", views.DicomDownloadView.as_view(), name="download"),
    path("quarantine/", views.QuarantineView.as_view(), name="quarantine"),
    path(
        "quarantine/<uuid:public_id>/image/",
        views.QuarantineImageView.as_view(),
        name="quarantine_image",
    ),
    path(
        "quarantine/<uuid:public_id>/",
        views.QuarantineDecisionView.as_view(),
        name="quarantine_decide",
    ),
]
