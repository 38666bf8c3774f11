from django.urls import path

from tumorapp.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.AuditEventListView.as_view(), name="event_list"),
    path("export.csv", views.AuditExportView.as_view(), name="export"),
    path("<uuid:public_id>/", views.AuditEventDetailView.as_view(), name="event_detail"),
]
