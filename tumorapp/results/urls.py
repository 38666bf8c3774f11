from django.urls import path

from tumorapp.results import views

app_name = "results"

urlpatterns = [
    path("", views.TrafficView.as_view(), name="traffic"),
    path("results/<uuid:public_id>/retry/", views.RetryView.as_view(), name="retry"),
]
