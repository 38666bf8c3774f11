"""Writes on the review workflow. A review is submitted in ``review_submit``."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Mod
from django.utils import timezone

from reviews import hooks, selectors
from reviews.labels import agreed_label, ai_answer, is_tumour
from reviews.models import Case, CaseSkip, ReadLabel, Review, SiteOptions
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.inference.models import Prediction
from tumorapp.scans.models import Study

# A prediction with no tumour suspected whose top class holds less than this is "uncertain"
# for triage: the model cannot tell the classes apart, so a reader looks before the routine.
UNCERTAIN_TOP_PROBABILITY = 0.6
# A reader who contradicts an AI this sure always gets a second read.
CONFIDENT_AI_PROBABILITY = 0.9


def answer_of(prediction: Prediction) -> str:
    """The AI's answer to a prediction, from its flag (see ``labels.ai_answer``): what the
    worklist, the case screen, the accept key, triage and exports all use."""
    return ai_answer(prediction.probabilities, prediction.tumor_suspected)


def triage_priority(*, prediction: Prediction) -> int:
    """The band (thousands) and order within the band; lower is more urgent.

    1. Unusual images (out of distribution) first, the most unusual first: a reader checks
       that they are brain MRIs at all before the AI's answer on them means anything.
    2. Then (escalated cases aside) the AI's answer, the one the case screen shows: a
       suspected tumour, highest P(tumour) first.
    3. Then no tumour suspected but the classes split (uncertain), least certain first.
    4. Then the rest, highest P(tumour) first.
    """
    if prediction.ood:
        score = max(prediction.ood_score or 0.0, 0.0)
        return Case.Band.UNUSUAL * 1000 + round(999 / (1.0 + score))
    p_order = round((1.0 - min(max(prediction.p_tumor, 0.0), 1.0)) * 999)
    if is_tumour(answer_of(prediction)):
        return Case.Band.SUSPECTED * 1000 + p_order
    top = max(prediction.probabilities.values(), default=0.0)
    if top < UNCERTAIN_TOP_PROBABILITY:
        return Case.Band.UNCERTAIN * 1000 + round(min(max(top, 0.0), 1.0) * 999)
    return Case.Band.ROUTINE * 1000 + p_order


@transaction.atomic
def case_open_for_prediction(*, prediction: Prediction) -> Case:
    """Put the scan of a freshly stored prediction on the worklist (or re-rank its case).

    The inference task calls this once the prediction row is saved. A DICOM slice joins its
    study's case (see ``_study_case_for``); any other scan is a case of its own. A case
    already read keeps its reads; a newer prediction only re-ranks a case still waiting.
    """
    scan = prediction.scan
    if scan.series_id is not None and not _has_case_of_its_own(scan.pk):
        return _study_case_for(prediction=prediction, study_id=scan.series.study_id)
    case = Case.objects.select_for_update().filter(scan_id=prediction.scan_id).first()
    if case is None:
        return Case.objects.create(
            scan_id=prediction.scan_id,
            prediction=prediction,
            ai_label=answer_of(prediction),
            priority=triage_priority(prediction=prediction),
            opened_at=timezone.now(),
        )
    if _waiting(case):
        _rank(case, prediction)
    return case


def _has_case_of_its_own(scan_id: int) -> bool:
    """A DICOM slice whose case predates study cases (one case per slice) keeps it. Read
    without a lock: study cases lock the study first, then its cases."""
    return Case.objects.filter(scan_id=scan_id, study__isnull=True).exists()


def _waiting(case: Case) -> bool:
    return case.status == Case.Status.FIRST_READ and case.first_reader_id is None


def _rank(case: Case, prediction: Prediction, priority: int | None = None) -> None:
    if priority is None:
        priority = triage_priority(prediction=prediction)
    if case.band == Case.Band.ESCALATED:  # an escalated case stays escalated (or unusual)
        priority = min(priority, _escalated(priority))
    case.scan_id = prediction.scan_id
    case.prediction = prediction
    case.ai_label = answer_of(prediction)
    case.priority = priority
    case.save(update_fields=["scan", "prediction", "ai_label", "priority"])


def _study_case_for(*, prediction: Prediction, study_id: int) -> Case:
    """The case of a DICOM study, opened by its first predicted slice.

    1. Lock the study row, so slices of one study predicted at once by several workers
       open one case, not one each.
    2. An open case of the study takes the slice. While it waits for its first read, its
       key slice becomes the slice with the highest P(tumour) (its latest prediction), the
       case takes that prediction's answer, and the priority of its most urgent slice (an
       unusual slice puts the whole study first; a suspected tumour is on the key slice).
    3. With no open case: a slice uploaded before the study's last report was part of what
       the reader saw, so nothing opens; a slice uploaded later opens a new case.
    """
    Study.objects.select_for_update().get(pk=study_id)
    case = (
        Case.objects.select_for_update()
        .filter(study_id=study_id)
        .exclude(status=Case.Status.DONE)
        .first()
    )
    if case is None:
        reported = (
            Case.objects.filter(study_id=study_id, decided_at__isnull=False)
            .order_by("-decided_at")
            .first()
        )
        if reported is not None and prediction.scan.uploaded_at <= reported.decided_at:
            return reported
        return Case.objects.create(
            scan_id=prediction.scan_id,
            study_id=study_id,
            prediction=prediction,
            ai_label=answer_of(prediction),
            priority=triage_priority(prediction=prediction),
            opened_at=timezone.now(),
        )
    if _waiting(case):
        latest = _latest_slice_predictions(case)
        priority = min(triage_priority(prediction=p) for p in latest)
        _rank(case, key_slice_prediction(case=case, latest=latest), priority)
    return case


def _latest_slice_predictions(case: Case) -> list[Prediction]:
    latest: dict[int, Prediction] = {}
    rows = Prediction.objects.filter(scan__in=selectors.case_slices(case=case)).order_by(
        "scan_id", "-created_at", "-pk"
    )
    for prediction in rows:
        latest.setdefault(prediction.scan_id, prediction)
    return list(latest.values()) or [case.prediction]


def key_slice_prediction(*, case: Case, latest: list[Prediction] | None = None) -> Prediction:
    """The latest prediction of the case's slice with the highest P(tumour) (ties go to the
    case's current key slice, then to the lowest slice)."""
    return min(
        latest if latest is not None else _latest_slice_predictions(case),
        key=lambda p: (-p.p_tumor, p.scan_id != case.scan_id, p.scan_id),
    )


def _escalated(priority: int) -> int:
    return Case.Band.ESCALATED * 1000 + priority % 1000


def cases_escalate(*, now=None) -> int:
    """Move cases that waited longer than the site allows into the escalated band (unusual
    images are already ahead of it)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=SiteOptions.current().escalate_after_minutes)
    return Case.objects.filter(
        status=Case.Status.FIRST_READ,
        priority__gte=Case.Band.SUSPECTED * 1000,
        opened_at__lt=cutoff,
    ).update(priority=Case.Band.ESCALATED * 1000 + Mod("priority", 1000))


def _claimable_by(reader, now) -> Q:
    free = Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now)
    first = Q(status=Case.Status.FIRST_READ)
    # A reader never second-reads or adjudicates a case they read themselves.
    second = Q(status=Case.Status.SECOND_READ) & ~Q(first_reader=reader)
    adjudicate = (
        Q(status=Case.Status.ADJUDICATION) & ~Q(first_reader=reader) & ~Q(second_reader=reader)
    )
    # A case assigned to another reader waits for them, unless it has been escalated.
    escalated = Q(priority__gte=Case.Band.ESCALATED * 1000, priority__lt=Case.Band.SUSPECTED * 1000)
    mine = Q(assigned_to__isnull=True) | Q(assigned_to=reader) | escalated
    # A colour image the site let in waits for a technologist's confirmation first.
    confirmed = Q(scan__colour_held=False)
    return free & mine & confirmed & (first | second | adjudicate)


@transaction.atomic
def case_claim_next(*, reader, request=None, options: SiteOptions | None = None) -> Case | None:
    """Hand ``reader`` the most urgent case nobody holds, under a lease.

    1. A reader holding an unexpired claim gets that case back (one case at a time). The
       same small query says whether any open case is assigned to them.
    2. Otherwise lock the first free case in triage order, skipping rows other readers are
       locking right now (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
       writers), so two readers can never be handed the same case. Cases assigned to the
       reader come first; cases assigned to someone else are skipped unless escalated.
       Cases the reader skipped come only after every other, the longest-skipped first.
    3. Record the claim with its lease and audit it.

    ``options`` saves a query when the caller has already read the site options.
    """
    now = timezone.now()
    # Ids and claims only (cheap to build): most readers hold nothing and have no own queue.
    mine = list(
        Case.objects.filter(Q(claimed_by=reader) | Q(assigned_to=reader))
        .exclude(status=Case.Status.DONE)
        .values_list("pk", "claimed_by_id", "lease_expires_at", "assigned_to_id")
        .order_by("priority", "opened_at")
    )
    held = [pk for pk, by, lease, _ in mine if by == reader.pk and lease and lease >= now]
    if held:
        return Case.objects.select_related("scan", "prediction").get(pk=held[0])
    own_queue = any(to == reader.pk for *_, to in mine)
    claimable = (
        Case.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("scan", "prediction")
        .filter(_claimable_by(reader, now))
        .order_by("priority", "opened_at")
    )
    skipped = CaseSkip.objects.filter(case=OuterRef("pk"), reader=reader)
    fresh = claimable.exclude(Exists(skipped))
    # The reader's own queue (cases assigned to them, if any) first, then everyone's, then
    # the ones they skipped.
    case = (
        (own_queue and fresh.filter(assigned_to=reader).first())
        or fresh.first()
        or claimable.annotate(skipped_at=Subquery(skipped.values("skipped_at")[:1]))
        .order_by("skipped_at", "priority", "opened_at")
        .first()
    )
    if case is None:
        return None
    return _claim(case=case, reader=reader, now=now, request=request, options=options)


def _claim(
    *, case: Case, reader, now, request, picked: bool = False, options: SiteOptions | None = None
) -> Case:
    options = options or SiteOptions.current()
    case.claimed_by = reader
    case.lease_expires_at = now + timedelta(minutes=options.lease_minutes)
    case.blind_label = ""
    case.save(update_fields=["claimed_by", "lease_expires_at", "blind_label"])
    details = {"status": case.status}
    if picked:
        details["picked"] = True
    audit_record(
        action=Action.CASE_CLAIMED, actor=reader, request=request, target=case, details=details
    )
    return case


def case_claimable(*, case: Case, reader, now=None) -> bool:
    """Whether ``reader`` may take this case now (free, at a stage they may read)."""
    now = now or timezone.now()
    return Case.objects.filter(_claimable_by(reader, now), pk=case.pk).exists()


@transaction.atomic
def case_claim(*, case: Case, reader, request=None) -> Case:
    """Claim one case the reader picked (from the worklist), instead of the next in order.

    The case must be free and readable by them at its stage, as for ``case_claim_next``. A
    reader reads one case at a time: another case they hold is released first (audited).
    Claiming a case one already holds returns it unchanged.
    """
    now = timezone.now()
    locked = Case.objects.select_for_update().select_related("scan", "prediction").get(pk=case.pk)
    held_lease = locked.lease_expires_at if locked.claimed_by_id == reader.pk else None
    if locked.is_open and held_lease is not None and held_lease >= now:
        return locked
    if not case_claimable(case=locked, reader=reader, now=now):
        raise ValidationError(_unclaimable_reason(locked, reader, now))
    others = (
        Case.objects.select_for_update()
        .filter(claimed_by=reader)
        .exclude(pk=locked.pk)
        .exclude(status=Case.Status.DONE)
    )
    for other in others:
        _unclaim(other)
        audit_record(action=Action.CASE_RELEASED, actor=reader, request=request, target=other)
    return _claim(case=locked, reader=reader, now=now, request=request, picked=True)


def _unclaimable_reason(case: Case, reader, now) -> str:
    if not case.is_open:
        return "This case is already reported."
    if case.claimed_by_id and case.lease_expires_at and case.lease_expires_at >= now:
        return f"This case is being read by {case.claimed_by}."
    if reader.pk in (case.first_reader_id, case.second_reader_id):
        return "You already read this case; it needs another reader."
    return f"This case waits in {case.assigned_to}'s queue."


def _unclaim(case: Case) -> None:
    case.claimed_by = None
    case.lease_expires_at = None
    case.blind_label = ""
    case.save(update_fields=["claimed_by", "lease_expires_at", "blind_label"])


def _locked_claim(*, case: Case, reader) -> Case:
    # With its prediction: a read checks the AI's confidence (no second query for it).
    case = Case.objects.select_for_update(of=("self",)).select_related("prediction").get(pk=case.pk)
    if case.claimed_by_id != reader.pk:
        raise PermissionDenied("This case is not claimed by you.")
    if case.status == Case.Status.DONE:
        raise ValidationError("This case is already reported.")
    return case


@transaction.atomic
def case_release(*, case: Case, reader, request=None) -> Case:
    """Give a claimed case back to the queue before its lease runs out."""
    case = _locked_claim(case=case, reader=reader)
    _unclaim(case)
    audit_record(action=Action.CASE_RELEASED, actor=reader, request=request, target=case)
    return case


@transaction.atomic
def case_skip(*, case: Case, reader, reason: str, request=None) -> Case | None:
    """Put a held case behind every other case for this reader and hand them the next one.

    The claim is given up (others may take the case at once); for this reader the case comes
    back only when nothing else they may read is waiting. The skip is audited with its
    reason. Returns the next case claimed for the reader, or None when none waits.
    """
    if reason not in CaseSkip.Reason.values:
        raise ValidationError({"reason": "Say why you skip this case."})
    case = _locked_claim(case=case, reader=reader)
    _unclaim(case)
    now = timezone.now()
    CaseSkip.objects.update_or_create(
        case=case, reader=reader, defaults={"reason": reason, "skipped_at": now}
    )
    audit_record(
        action=Action.CASE_SKIPPED,
        actor=reader,
        request=request,
        target=case,
        details={"reason": reason, "status": case.status},
    )
    return case_claim_next(reader=reader, request=request)


@transaction.atomic
def case_record_blind_label(*, case: Case, reader, label: str) -> Case:
    """Store the reader's answer given before the AI's is revealed (blind first read)."""
    case = _locked_claim(case=case, reader=reader)
    if label not in ReadLabel.values:
        raise ValidationError({"label": "Unknown class."})
    if case.blind_label:
        raise ValidationError("The initial class is already recorded.")
    case.blind_label = label
    case.save(update_fields=["blind_label"])
    return case


def ai_is_hidden(*, case: Case, options: SiteOptions) -> bool:
    """Whether the claim holder must still answer before the AI's class is shown."""
    return (
        options.blind_first_read
        and case.status != Case.Status.ADJUDICATION
        and not case.blind_label
    )


def double_read_selected(*, case: Case, rate: float) -> bool:
    """Deterministic from the case id, so the same case is always in or out of the sample."""
    digest = hashlib.sha256(str(case.public_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _needs_second_read(*, case: Case, label: str, options: SiteOptions) -> bool:
    ai_confidence = case.prediction.probabilities.get(case.ai_label, 0.0)
    # "Tumour, type unknown" leaves a tumour class open: it contradicts only "no tumour".
    disagrees_with_confident_ai = (
        agreed_label(label, case.ai_label) is None and ai_confidence >= CONFIDENT_AI_PROBABILITY
    )
    return disagrees_with_confident_ai or double_read_selected(
        case=case, rate=options.double_read_rate
    )


@transaction.atomic
def review_submit(
    *,
    case: Case,
    reader,
    label: str,
    reason: str = "",
    note: str = "",
    poor_image_quality: bool = False,
    key_slice=None,
    request=None,
) -> Review:
    """Record the claim holder's read and move the case along the double-reading path.

    1. Check the claim and the answer (a correction of the AI needs a reason, unless it is
       the reader's own blind answer kept after the reveal; a blind site needs the initial
       class first; a key slice, given by its scan's public id, must be
       one of the case's slices).
    2. Store the read: first, second (blinded to the first) or adjudication.
    3. First read: report it, unless it is sampled for double reading or contradicts a
       confident AI, then it waits for a second reader. Second read: agreement reports,
       disagreement goes to adjudication (a named tumour type and "tumour, type unknown"
       agree on the tumour and report "tumour, type unknown": ``labels.agreed_label``).
       Adjudication reports.
    4. Free the claim and write one audit event.
    """
    case = _locked_claim(case=case, reader=reader)
    options = SiteOptions.current()
    if label not in ReadLabel.values:
        raise ValidationError({"label": "Unknown class."})
    # Keeping one's blind answer must cost no more than taking the AI's (automation bias).
    if label not in (case.ai_label, case.blind_label) and reason not in Review.Reason.values:
        raise ValidationError({"reason": "Say why you differ from the AI."})
    if reason and reason not in Review.Reason.values:
        raise ValidationError({"reason": "Unknown reason."})
    if ai_is_hidden(case=case, options=options):
        raise ValidationError("Record your initial class before the AI's answer is shown.")
    key_scan = _key_scan(case, key_slice)
    kind = {
        Case.Status.FIRST_READ: Review.Kind.FIRST,
        Case.Status.SECOND_READ: Review.Kind.SECOND,
        Case.Status.ADJUDICATION: Review.Kind.ADJUDICATION,
    }[case.status]
    review = Review.objects.create(
        case=case,
        reader=reader,
        kind=kind,
        ai_label=case.ai_label,
        initial_label=case.blind_label,
        label=label,
        reason=reason,
        note=note.strip(),
        poor_image_quality=poor_image_quality,
        key_scan=key_scan,
    )
    now = timezone.now()
    if kind == Review.Kind.FIRST:
        case.first_reader = reader
        if _needs_second_read(case=case, label=label, options=options):
            case.status = Case.Status.SECOND_READ
        else:
            _report(case, label, Case.Resolution.SINGLE, now)
        action = Action.REVIEW_SUBMITTED
    elif kind == Review.Kind.SECOND:
        case.second_reader = reader
        first = case.reviews.get(kind=Review.Kind.FIRST)
        agreed = agreed_label(first.label, label)
        if agreed is not None:
            _report(case, agreed, Case.Resolution.AGREED, now)
        else:
            case.status = Case.Status.ADJUDICATION
            _tell_if_stalled(case=case, options=options, request=request)
        action = Action.SECOND_READ_SUBMITTED
    else:
        _report(case, label, Case.Resolution.ADJUDICATED, now)
        action = Action.ADJUDICATED
    case.claimed_by = None
    case.lease_expires_at = None
    case.blind_label = ""
    case.assigned_to = None  # the read moves the case on: the next stage is anyone's
    case.save()
    if case.status == Case.Status.DONE:
        hooks.case_reported.publish(case=case, review=review)
    audit_record(
        action=action,
        actor=reader,
        request=request,
        target=case,
        details={
            "review": str(review.public_id),
            "label": label,
            "ai_label": case.ai_label,
            "initial_label": review.initial_label,
            "changed_after_reveal": bool(review.initial_label) and review.initial_label != label,
            "reason": review.reason,
            "key_slice": str(key_scan.public_id) if key_scan else "",
            "case_status": case.status,
        },
    )
    return review


# --- Disagreements at small sites -----------------------------------------------------------


def adjudicator_exists(*, case: Case) -> bool:
    """Whether an active radiologist who read neither read could adjudicate the case."""
    readers = {case.first_reader_id, case.second_reader_id} - {None}
    return selectors.active_radiologists().exclude(pk__in=readers).exists()


def can_reach_consensus(*, case: Case, reader, options: SiteOptions | None = None) -> bool:
    """One of the two readers of a case waiting for adjudication, at a consensus site."""
    return (
        case.status == Case.Status.ADJUDICATION
        and reader.pk in (case.first_reader_id, case.second_reader_id)
        and selectors.consensus_enabled(options=options)
    )


def _tell_if_stalled(*, case: Case, options: SiteOptions, request) -> None:
    """A disagreement nobody can adjudicate (no third radiologist, no consensus) is audited,
    so an admin learns of it (their pages also show it: ``selectors.stalled_adjudications``)."""
    if selectors.consensus_enabled(options=options) or adjudicator_exists(case=case):
        return
    audit_record(
        action=Action.ADJUDICATION_STALLED,
        request=request,
        target=case,
        details={
            "first_reader": case.first_reader.get_username(),
            "second_reader": case.second_reader.get_username(),
            "consensus": options.consensus,
        },
    )


def _locked_disagreement(*, case: Case, reader) -> Case:
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != Case.Status.ADJUDICATION:
        raise ValidationError("This case no longer waits for adjudication.")
    if not can_reach_consensus(case=case, reader=reader):
        raise PermissionDenied("Only the two readers of this case can settle it together.")
    return case


@transaction.atomic
def case_consensus_propose(*, case: Case, reader, label: str, note: str = "", request=None) -> Case:
    """One of the two readers proposes the answer they agree on (it replaces an earlier
    proposal, theirs or the other reader's); the other reader confirms it."""
    case = _locked_disagreement(case=case, reader=reader)
    if label not in ReadLabel.values:
        raise ValidationError({"label": "Unknown class."})
    before = case.consensus_label
    case.consensus_label = label
    case.consensus_proposer = reader
    case.consensus_note = note.strip()
    case.save(update_fields=["consensus_label", "consensus_proposer", "consensus_note"])
    audit_record(
        action=Action.CONSENSUS_PROPOSED,
        actor=reader,
        request=request,
        target=case,
        details={"label": label, "before": before},
    )
    return case


@transaction.atomic
def case_consensus_confirm(
    *, case: Case, reader, label: str, note: str = "", request=None
) -> Review:
    """The other reader confirms the proposed answer: it is the case's final class.

    ``label`` is the answer the confirmer saw proposed; if the proposal changed meanwhile the
    confirmation is refused (they confirm only what they read). The read is stored as a
    consensus read by the confirmer, the case is reported as a consensus, and the audit
    event names both readers and their earlier answers.
    """
    case = _locked_disagreement(case=case, reader=reader)
    if not case.consensus_label:
        raise ValidationError("Nothing is proposed yet: propose the answer you agree on.")
    if case.consensus_proposer_id == reader.pk:
        raise ValidationError("Your proposal waits for the other reader to confirm it.")
    if label != case.consensus_label:
        raise ValidationError("The proposal changed; read it again before confirming.")
    notes = [n for n in (case.consensus_note, note.strip()) if n]
    review = Review.objects.create(
        case=case,
        reader=reader,
        kind=Review.Kind.CONSENSUS,
        ai_label=case.ai_label,
        label=label,
        note="\n".join(notes),
    )
    reads = {r.kind: r.label for r in case.reviews.filter(kind__in=("first", "second"))}
    _report(case, label, Case.Resolution.CONSENSUS, timezone.now())
    case.claimed_by = None
    case.lease_expires_at = None
    case.assigned_to = None
    case.save()
    hooks.case_reported.publish(case=case, review=review)
    audit_record(
        action=Action.CONSENSUS_REACHED,
        actor=reader,
        request=request,
        target=case,
        details={
            "review": str(review.public_id),
            "label": label,
            "proposed_by": case.consensus_proposer.get_username(),
            "confirmed_by": reader.get_username(),
            "first_label": reads.get(Review.Kind.FIRST, ""),
            "second_label": reads.get(Review.Kind.SECOND, ""),
            "ai_label": case.ai_label,
        },
    )
    return review


@transaction.atomic
def case_assign(*, case: Case, actor, assignee=None, request=None) -> Case:
    """Put an open case in one reader's queue (``assignee`` None: back to everyone's).

    The assignee must be an active radiologist who may read the case at its stage: not the
    first reader of a second read, not either reader of an adjudication. A claim already
    held keeps its lease; the assignment decides who is handed the case next.
    """
    case = Case.objects.select_for_update().get(pk=case.pk)
    if not case.is_open:
        raise ValidationError("A reported case cannot be assigned.")
    if assignee is not None:
        if not (assignee.is_active and assignee.has_role(Role.RADIOLOGIST)):
            raise ValidationError({"assignee": "Only an active radiologist can be assigned."})
        earlier = {case.first_reader_id, case.second_reader_id} - {None}
        if case.status != Case.Status.FIRST_READ and assignee.pk in earlier:
            raise ValidationError(
                {"assignee": "This reader already read the case; it needs another reader."}
            )
    before = case.assigned_to
    if before == assignee:
        return case
    case.assigned_to = assignee
    case.save(update_fields=["assigned_to"])
    audit_record(
        action=Action.CASE_ASSIGNED,
        actor=actor,
        request=request,
        target=case,
        details={
            "before": before.get_username() if before else "",
            "after": assignee.get_username() if assignee else "",
            "status": case.status,
        },
    )
    return case


@transaction.atomic
def case_amend(
    *,
    case: Case,
    reader,
    label: str,
    reason: str,
    note: str,
    key_slice=None,
    request=None,
) -> Review:
    """Correct the final class of a reported case (a pathology result, a prior, a second look).

    Any radiologist may amend; the reads stay as they were, the amendment is one more read
    (kind ``amendment``) and the case's final class changes (its decision time does not), so
    the next dataset export carries the new class (and shows the image as relabelled). A
    reason and a note are required: an amendment overrides what was reported.
    """
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != Case.Status.DONE:
        raise ValidationError("Only a reported case can be amended; this one is still open.")
    if label not in ReadLabel.values:
        raise ValidationError({"label": "Unknown class."})
    if label == case.final_label:
        raise ValidationError({"label": "The report already says this class."})
    if reason not in Review.Reason.values:
        raise ValidationError({"reason": "Say why the report is amended."})
    note = note.strip()
    if not note:
        raise ValidationError({"note": "Write what the amendment is based on."})
    key_scan = _key_scan(case, key_slice)
    before = case.final_label
    review = Review.objects.create(
        case=case,
        reader=reader,
        kind=Review.Kind.AMENDMENT,
        ai_label=case.ai_label,
        label=label,
        reason=reason,
        note=note,
        key_scan=key_scan,
    )
    # The decision time stays the report's: it bounds which slices of a study the report
    # covered, and exports filter on it; the amendment's own time is its read's.
    case.final_label = label
    case.resolution = Case.Resolution.AMENDED
    case.save(update_fields=["final_label", "resolution"])
    hooks.case_reported.publish(case=case, review=review)
    audit_record(
        action=Action.CASE_AMENDED,
        actor=reader,
        request=request,
        target=case,
        details={
            "review": str(review.public_id),
            "before": before,
            "label": label,
            "reason": reason,
            "key_slice": str(key_scan.public_id) if key_scan else "",
        },
    )
    return review


def _key_scan(case: Case, key_slice):
    """The case's slice a read names by its scan's public id (None when it names none)."""
    if not key_slice:
        return None
    key_scan = selectors.case_slices(case=case).filter(public_id=key_slice).first()
    if key_scan is None:
        raise ValidationError({"key_slice": "That slice is not part of this case."})
    return key_scan


def _report(case: Case, label: str, resolution: str, now) -> None:
    case.status = Case.Status.DONE
    case.final_label = label
    case.resolution = resolution
    case.decided_at = now


@transaction.atomic
def site_options_update(
    *,
    actor,
    double_read_rate: float,
    blind_first_read: bool,
    lease_minutes: int,
    escalate_after_minutes: int,
    consensus: str = SiteOptions.Consensus.AUTO,
    allow_colour_images: bool = False,
    clinical_link: bool = True,
    request=None,
) -> SiteOptions:
    """Change the review options of the site; the audit event keeps the old and new values."""
    options = SiteOptions.objects.select_for_update().get(pk=SiteOptions.current().pk)
    fields = (
        "double_read_rate",
        "blind_first_read",
        "lease_minutes",
        "escalate_after_minutes",
        "consensus",
        "allow_colour_images",
        "clinical_link",
    )
    before = {f: getattr(options, f) for f in fields}
    options.double_read_rate = double_read_rate
    options.blind_first_read = blind_first_read
    options.lease_minutes = lease_minutes
    options.escalate_after_minutes = escalate_after_minutes
    options.consensus = consensus
    options.allow_colour_images = allow_colour_images
    options.clinical_link = clinical_link
    options.full_clean()
    options.save()
    after = {f: getattr(options, f) for f in fields}
    audit_record(
        action=Action.SITE_OPTIONS_CHANGED,
        actor=actor,
        request=request,
        target=options,
        details={"before": before, "after": after},
    )
    return options
