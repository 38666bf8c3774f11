from django.urls import path

from tumorapp.scans import views

app_name = "scans"

urlpatterns = [
    path("upload/", views.UploadView.as_view(), name="upload"),
    path("mine/", views.MyUploadsView.as_view(), name="mine"),
    path("<uuid:public_id>/", views.ScanDetailView.as_view(), name="detail"),
    path(
        "<uuid:public_id>/confirm-colour/",
        views.ConfirmColourView.as_view(),
        name="confirm_colour",
    ),
    path("<uuid:public_id>/image/", views.ScanImageView.as_view(), name="image"),
    path("<uuid:public_id>/heatmap/", views.ScanHeatmapView.as_view(), name="heatmap"),
]
