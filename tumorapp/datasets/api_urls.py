from django.urls import path

from tumorapp.datasets import api

urlpatterns = [
    path("datasets/", api.ExportListApi.as_view(), name="api-dataset-list"),
    path("datasets/<uuid:public_id>/", api.ExportDetailApi.as_view(), name="api-dataset-detail"),
    path(
        "datasets/<uuid:public_id>/changes/",
        api.ExportChangesApi.as_view(),
        name="api-dataset-changes",
    ),
]
