from django.urls import path

from tumorapp.dicom import api

urlpatterns = [
    path("scans/<uuid:public_id>/dicom/", api.ScanDicomView.as_view(), name="api-scan-dicom"),
    path("scans/<uuid:public_id>/pixels/", api.ScanPixelsView.as_view(), name="api-scan-pixels"),
]
