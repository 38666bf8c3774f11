from django.urls import path

from reviews import api

urlpatterns = [
    path("reviews/next/", api.NextCaseApi.as_view(), name="api-reviews-next"),
    path(
        "reviews/cases/<uuid:public_id>/review/",
        api.SubmitReviewApi.as_view(),
        name="api-reviews-submit",
    ),
    path(
        "reviews/cases/<uuid:public_id>/release/",
        api.ReleaseCaseApi.as_view(),
        name="api-reviews-release",
    ),
    path(
        "reviews/cases/<uuid:public_id>/amend/",
        api.AmendCaseApi.as_view(),
        name="api-reviews-amend",
    ),
    path(
        "reviews/cases/<uuid:public_id>/assign/",
        api.AssignCaseApi.as_view(),
        name="api-reviews-assign",
    ),
]
