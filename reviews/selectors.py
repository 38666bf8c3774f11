"""Reads for the worklist, the review screen and the agreement page."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from reviews.labels import is_tumour
from reviews.models import Case, Review, SiteOptions
from tumorapp.accounts.roles import Role
from tumorapp.inference.models import Prediction
from tumorapp.scans.models import Scan

WORKLIST_PAGE_SIZE = 50


@dataclass(frozen=True)
class WorklistFilters:
    status: str = ""
    predicted: str = ""
    since: dt.date | None = None
    reader_id: int | None = None
    assigned_id: int | None = None


def worklist_for(*, filters: WorklistFilters, limit: int = WORKLIST_PAGE_SIZE) -> list[Case]:
    """The cases in triage order: one query on the (status, priority, opened_at) index.
    Colour images held for a technologist's confirmation are not listed yet."""
    if filters.status:
        cases = Case.objects.filter(status=filters.status)
    else:
        cases = Case.objects.exclude(status=Case.Status.DONE)
    cases = cases.filter(scan__colour_held=False)
    if filters.predicted:
        cases = cases.filter(ai_label=filters.predicted)
    if filters.since:
        start = dt.datetime.combine(
            filters.since, dt.time.min, tzinfo=timezone.get_current_timezone()
        )
        cases = cases.filter(opened_at__gte=start)
    if filters.reader_id:
        cases = cases.filter(claimed_by_id=filters.reader_id)
    if filters.assigned_id:
        cases = cases.filter(assigned_to_id=filters.assigned_id)
    study_slices = (
        Scan.objects.filter(series__study=OuterRef("study"))
        .exclude(status=Scan.Status.QUARANTINED)
        .values("series__study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        cases.select_related("scan", "prediction", "claimed_by", "assigned_to")
        .annotate(study_slices=Subquery(study_slices))
        .order_by("priority", "opened_at")[:limit]
    )


def worklist_counts() -> dict[str, int]:
    """How many cases are in each status (one grouped query)."""
    rows = Case.objects.values_list("status").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(Case.Status.values, 0)
    counts.update(dict(rows))
    return counts


def case_detail(*, public_id) -> Case:
    return Case.objects.select_related(
        "scan__series",
        "study",
        "prediction",
        "claimed_by",
        "assigned_to",
        "first_reader",
        "second_reader",
    ).get(public_id=public_id)


def case_slices(*, case: Case) -> QuerySet[Scan]:
    """The slices a case covers, in series and instance order.

    A PNG or JPEG case is its one scan. A study case covers the study's slices that are not
    another case's key slice, uploaded after the study's previous report (if any) and, once
    reported, up to its own report (later slices open the next case of the study).
    """
    scans = Scan.objects.exclude(status=Scan.Status.QUARANTINED)
    if case.study_id is None:
        return scans.filter(pk=case.scan_id)
    scans = scans.filter(Q(series__study_id=case.study_id), Q(case__isnull=True) | Q(case=case))
    previous = (
        Case.objects.filter(study_id=case.study_id, decided_at__lt=case.opened_at)
        .exclude(pk=case.pk)
        .aggregate(last=Max("decided_at"))["last"]
    )
    if previous is not None:
        scans = scans.filter(uploaded_at__gt=previous)
    if case.decided_at is not None:
        scans = scans.filter(uploaded_at__lte=case.decided_at)
    return scans.order_by(
        "series__series_number", "series_id", "instance_number", "frame_number", "pk"
    )


@dataclass(frozen=True)
class Slice:
    scan: Scan
    prediction: Prediction | None  # the latest; None while the model has not read it


def case_slices_with_predictions(*, case: Case) -> list[Slice]:
    """The case's slices, each with its latest prediction (two queries)."""
    scans = list(case_slices(case=case).select_related("series"))
    latest: dict[int, Prediction] = {}
    for prediction in Prediction.objects.filter(scan__in=[s.pk for s in scans]).order_by(
        "scan_id", "-created_at", "-pk"
    ):
        latest.setdefault(prediction.scan_id, prediction)
    return [Slice(scan=s, prediction=latest.get(s.pk)) for s in scans]


def review_by_reader(*, case_public_id, reader) -> Review | None:
    """The read ``reader`` already made on a case. A reader never reads the same case twice
    (second readers and adjudicators exclude earlier readers), so there is at most one."""
    return (
        Review.objects.select_related("case")
        .filter(case__public_id=case_public_id, reader=reader)
        .first()
    )


def case_reviews(*, case: Case) -> QuerySet[Review]:
    return case.reviews.select_related("reader").order_by("created_at")


def cohen_kappa(pairs: list[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters over the same items; None when it is undefined.

    kappa = (p_o - p_e) / (1 - p_e), p_o the observed agreement, p_e the agreement expected
    by chance from each rater's own class frequencies.
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected == 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class AgreementReport:
    """Kappas over the answers as given (a named type and "tumour, type unknown" differ),
    and over tumour or not (where they agree)."""

    double_reads: int
    inter_reader_kappa: float | None
    inter_reader_agreement: float | None
    inter_reader_tumour_kappa: float | None
    inter_reader_tumour_agreement: float | None
    reader_ai_kappa: float | None
    reader_ai_agreement: float | None
    reader_ai_tumour_kappa: float | None
    reader_ai_tumour_agreement: float | None
    reads: int
    followed_ai_when_shown: float | None
    shown_reads: int
    matched_ai_when_blind: float | None
    blind_reads: int


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _tumour_or_not(pairs: list[tuple[str, str]]) -> list[tuple[bool, bool]]:
    return [(is_tumour(a), is_tumour(b)) for a, b in pairs]


def agreement_report() -> AgreementReport:
    """Inter-reader agreement on double-read cases and reader-vs-AI agreement on first reads."""
    firsts: dict[int, str] = {}
    seconds: dict[int, str] = {}
    reader_ai: list[tuple[str, str]] = []
    shown: list[bool] = []
    blind: list[bool] = []
    rows = Review.objects.filter(kind__in=(Review.Kind.FIRST, Review.Kind.SECOND)).values_list(
        "case_id", "kind", "label", "ai_label", "initial_label"
    )
    for case_id, kind, label, ai_label, initial in rows:
        if kind == Review.Kind.FIRST:
            firsts[case_id] = label
            reader_ai.append((label, ai_label))
            if initial:
                blind.append(initial == ai_label)
            else:
                shown.append(label == ai_label)
        else:
            seconds[case_id] = label
    pairs = [(firsts[c], seconds[c]) for c in seconds if c in firsts]
    tumour_pairs = _tumour_or_not(pairs)
    tumour_reader_ai = _tumour_or_not(reader_ai)
    return AgreementReport(
        double_reads=len(pairs),
        inter_reader_kappa=cohen_kappa(pairs),
        inter_reader_agreement=_share([a == b for a, b in pairs]),
        inter_reader_tumour_kappa=cohen_kappa(tumour_pairs),
        inter_reader_tumour_agreement=_share([a == b for a, b in tumour_pairs]),
        reader_ai_kappa=cohen_kappa(reader_ai),
        reader_ai_agreement=_share([a == b for a, b in reader_ai]),
        reader_ai_tumour_kappa=cohen_kappa(tumour_reader_ai),
        reader_ai_tumour_agreement=_share([a == b for a, b in tumour_reader_ai]),
        reads=len(reader_ai),
        followed_ai_when_shown=_share(shown),
        shown_reads=len(shown),
        matched_ai_when_blind=_share(blind),
        blind_reads=len(blind),
    )


def active_radiologists() -> QuerySet:
    return get_user_model().objects.filter(is_active=True, groups__name=Role.RADIOLOGIST.value)


def consensus_enabled(*, options: SiteOptions | None = None) -> bool:
    """Whether the two readers of a disagreement may settle it together: the site's choice,
    by default when fewer than three radiologists are active (no third reader to ask)."""
    mode = (options or SiteOptions.current()).consensus
    if mode == SiteOptions.Consensus.AUTO:
        return active_radiologists().count() < 3
    return mode == SiteOptions.Consensus.ON


def disagreements_of(*, reader) -> list[Case]:
    """The cases waiting for adjudication that ``reader`` read (first or second): they cannot
    adjudicate them, so a clear queue does not mean nothing of theirs waits."""
    return list(
        Case.objects.filter(status=Case.Status.ADJUDICATION)
        .filter(Q(first_reader=reader) | Q(second_reader=reader))
        .select_related("prediction", "first_reader", "second_reader", "consensus_proposer")
        .order_by("priority", "opened_at")
    )


def stalled_adjudications() -> list[Case]:
    """Cases waiting for adjudication that nobody may take: no active radiologist besides
    their two readers, and the site does not let the two readers settle it together."""
    waiting = list(
        Case.objects.filter(status=Case.Status.ADJUDICATION)
        .select_related("first_reader", "second_reader")
        .order_by("opened_at")
    )
    if not waiting or consensus_enabled():
        return []
    readers = set(active_radiologists().values_list("pk", flat=True))
    return [c for c in waiting if not readers - {c.first_reader_id, c.second_reader_id}]
