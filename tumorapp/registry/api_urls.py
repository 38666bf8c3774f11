from django.urls import path

from tumorapp.registry import api

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="api-model-list"),
    path("models/rollback/", api.RollbackApi.as_view(), name="api-model-rollback"),
    path("models/<uuid:public_id>/", api.ModelDetailApi.as_view(), name="api-model-detail"),
    path("models/<uuid:public_id>/promote/", api.PromoteApi.as_view(), name="api-model-promote"),
    path("trainings/", api.TrainingListApi.as_view(), name="api-training-list"),
    path("comparisons/", api.ComparisonListApi.as_view(), name="api-comparison-list"),
    path(
        "comparisons/<uuid:public_id>/",
        api.ComparisonDetailApi.as_view(),
        name="api-comparison-detail",
    ),
    path(
        "trainings/<uuid:public_id>/", api.TrainingDetailApi.as_view(), name="api-training-detail"
    ),
]
