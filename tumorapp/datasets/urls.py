from django.urls import path

from tumorapp.datasets import views

app_name = "datasets"

urlpatterns = [
    path("", views.ExportListView.as_view(), name="export_list"),
    path("<uuid:public_id>/", views.ExportDetailView.as_view(), name="export_detail"),
    path("<uuid:public_id>/download/", views.ExportDownloadView.as_view(), name="export_download"),
    path("<uuid:public_id>/changes/", views.ExportChangesView.as_view(), name="export_changes"),
    path(
        "<uuid:public_id>/changes.csv",
        views.ExportChangesCsvView.as_view(),
        name="export_changes_csv",
    ),
]
