from django.urls import path

from tumorapp.registry import views

app_name = "registry"

urlpatterns = [
    path("", views.ModelListView.as_view(), name="model_list"),
    path("train/", views.TrainingCreateView.as_view(), name="training_create"),
    path("compare/", views.ComparisonCreateView.as_view(), name="comparison_create"),
    path("rollback/", views.RollbackView.as_view(), name="rollback"),
    path("rescore/", views.RescoreView.as_view(), name="rescore"),
    path("<uuid:public_id>/", views.ModelDetailView.as_view(), name="model_detail"),
    path("<uuid:public_id>/promote/", views.PromoteView.as_view(), name="promote"),
    path(
        "<uuid:public_id>/operating-point/",
        views.OperatingPointView.as_view(),
        name="operating_point",
    ),
    path("training/<uuid:public_id>/", views.TrainingDetailView.as_view(), name="training_detail"),
    path(
        "comparisons/<uuid:public_id>/",
        views.ComparisonDetailView.as_view(),
        name="comparison_detail",
    ),
    path(
        "comparisons/<uuid:public_id>/<str:set_name>/<int:index>.png",
        views.ComparisonImageView.as_view(),
        name="comparison_image",
    ),
]
