from django.urls import path

from tumorapp.quality import views

app_name = "quality"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("refresh/", views.RefreshView.as_view(), name="refresh"),
]
