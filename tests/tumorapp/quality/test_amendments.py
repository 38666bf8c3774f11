"""An amendment changes the final class of a case decided days ago: the nightly
(incremental) refresh gives the same daily counts as a full rebuild."""

import datetime as dt

import pytest
from django.utils import timezone

from reviews.services import case_amend
from tumorapp.quality.models import DailyCounts
from tumorapp.quality.services import quality_refresh

pytestmark = pytest.mark.django_db


def daily_counts() -> dict:
    return {(r.day, r.model_version): r.counts for r in DailyCounts.objects.all()}


def test_an_amendment_ten_days_later_is_counted_once_by_the_incremental_refresh(
    model_folder, make_reviewed, alice
):
    # given a tumour reported ten days ago, and the figures computed since
    ten_days_ago = timezone.now() - dt.timedelta(days=10)
    case = make_reviewed(
        final="glioma", ai="glioma", suspected=True, confidence=0.95, reader=alice, at=ten_days_ago
    )
    make_reviewed(final="no_tumor", ai="no_tumor", suspected=False, confidence=0.9, reader=alice)
    quality_refresh(full=True)
    before = daily_counts()
    # when the report is amended today and the beat refreshes the recent days
    case_amend(case=case, reader=alice, label="no_tumor", reason="pathology", note="no tumour")
    quality_refresh()
    incremental = daily_counts()
    # then the figures are those of a full rebuild (the old day counts the new class)
    quality_refresh(full=True)
    assert incremental == daily_counts()
    assert incremental != before
