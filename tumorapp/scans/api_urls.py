from django.urls import path

from tumorapp.scans import api

urlpatterns = [
    path("scans/", api.ScanListCreateView.as_view(), name="api-scans"),
    path("scans/<uuid:public_id>/", api.ScanDetailView.as_view(), name="api-scan"),
    path("scans/<uuid:public_id>/image/", api.ScanImageView.as_view(), name="api-scan-image"),
    path("scans/<uuid:public_id>/heatmap/", api.ScanHeatmapView.as_view(), name="api-scan-heatmap"),
]
