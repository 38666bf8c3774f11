from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.WorklistView.as_view(), name="worklist"),
    path("next/", views.NextCaseView.as_view(), name="next"),
    path("cases/<uuid:public_id>/", views.CaseView.as_view(), name="case"),
    path("cases/<uuid:public_id>/claim/", views.ClaimCaseView.as_view(), name="claim"),
    path(
        "cases/<uuid:public_id>/image/", views.CaseFileView.as_view(kind="image"), name="case_image"
    ),
    path(
        "cases/<uuid:public_id>/heatmap/",
        views.CaseFileView.as_view(kind="heatmap"),
        name="case_heatmap",
    ),
    path(
        "cases/<uuid:public_id>/slices/<uuid:scan_id>/image/",
        views.CaseSliceFileView.as_view(kind="image"),
        name="slice_image",
    ),
    path(
        "cases/<uuid:public_id>/slices/<uuid:scan_id>/pixels/",
        views.CaseSliceFileView.as_view(kind="pixels"),
        name="slice_pixels",
    ),
    path(
        "cases/<uuid:public_id>/slices/<uuid:scan_id>/heatmap/",
        views.CaseSliceFileView.as_view(kind="heatmap"),
        name="slice_heatmap",
    ),
    path("agreement/", views.AgreementView.as_view(), name="agreement"),
    path("site-options/", views.SiteOptionsView.as_view(), name="site_options"),
]
