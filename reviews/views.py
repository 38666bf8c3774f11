"""Pages of the review workflow; each write calls one service in reviews.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from reviews import rules, selectors, services
from reviews.forms import (
    AmendForm,
    AssignForm,
    ConsensusForm,
    InitialLabelForm,
    ReviewForm,
    SiteOptionsForm,
    WorklistFilterForm,
)
from reviews.hooks import operating_point
from reviews.models import Case, CaseSkip, ReadLabel, Review, SiteOptions, TumourClass
from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.clinical import selectors as clinical_selectors
from tumorapp.clinical.services import clinical_link_view_record
from tumorapp.dicom.files import pixels_response


def _radiologists():
    return get_user_model().objects.filter(groups__name=Role.RADIOLOGIST.value).order_by("username")


class WorklistView(RoleRequiredMixin, TemplateView):
    roles = (Role.RADIOLOGIST,)
    template_name = "reviews/worklist.html"

    def get_context_data(self, **kwargs):
        form = WorklistFilterForm(self.request.GET or None, readers=_radiologists())
        filters = selectors.WorklistFilters()
        if form.is_valid():
            data = form.cleaned_data
            filters = selectors.WorklistFilters(
                status=data["status"],
                predicted=data["predicted"],
                since=data["since"],
                reader_id=int(data["reader"]) if data["reader"] else None,
                assigned_id=int(data["assigned"]) if data["assigned"] else None,
            )
        counts = selectors.worklist_counts()
        disagreements = selectors.disagreements_of(reader=self.request.user)
        cases = selectors.worklist_for(filters=filters)
        identities = clinical_selectors.identities_for(cases)
        for case in cases:
            case.clinical = identities.get(case.pk)
        clinical_link_view_record(
            request=self.request,
            cases=[case for case in cases if case.clinical is not None],
            where="worklist",
        )
        return super().get_context_data(
            disagreements=disagreements,
            consensus=bool(disagreements) and selectors.consensus_enabled(),
            form=form,
            cases=cases,
            status_counts=[(value, label, counts[value]) for value, label in Case.Status.choices],
            **kwargs,
        )


class NextCaseView(RoleRequiredMixin, View):
    """POST: skip the case held (if any, with a reason), then claim the most urgent free case."""

    roles = (Role.RADIOLOGIST,)

    def post(self, request):
        skipped = request.POST.get("skip")
        case = None
        if skipped:
            case = Case.objects.filter(public_id=skipped, claimed_by=request.user).first()
        if case is None or not case.is_open:
            return _to_next_case(request)
        try:
            following = services.case_skip(
                case=case,
                reader=request.user,
                reason=request.POST.get("skip_reason", ""),
                request=request,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("reviews:case", public_id=case.public_id)
        messages.info(request, "Skipped: it comes back to you after every other case.")
        return _to_case(request, following)


class ClaimCaseView(RoleRequiredMixin, View):
    """POST: claim the case a reader picked (from the worklist or its page) and open it."""

    roles = (Role.RADIOLOGIST,)

    def post(self, request, public_id):
        case = Case.objects.filter(public_id=public_id).first()
        if case is None or not rules.can_view_case(request.user, case):
            raise Http404
        try:
            services.case_claim(case=case, reader=request.user, request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("reviews:case", public_id=case.public_id)


def _to_next_case(request):
    return _to_case(request, services.case_claim_next(reader=request.user, request=request))


def _to_case(request, case):
    if case is None:
        messages.info(request, _nothing_to_read(request.user))
        return redirect("reviews:worklist")
    return redirect("reviews:case", public_id=case.public_id)


def _nothing_to_read(reader) -> str:
    """What a reader with nothing to claim is told: "clear" only when no disagreement of
    theirs waits (they cannot adjudicate their own reads)."""
    waiting = selectors.disagreements_of(reader=reader)
    if not waiting:
        return "No case is waiting for you. The worklist is clear."
    n = len(waiting)
    cases = f"{n} disagreement{'s' if n != 1 else ''} of yours"
    if selectors.consensus_enabled():
        return (
            f"No case is waiting for you to read, but {cases} wait{'s' if n == 1 else ''} for "
            "consensus with the other reader: open it from the worklist and propose or "
            "confirm the answer you agree on."
        )
    if all(not services.adjudicator_exists(case=c) for c in waiting):
        return (
            f"No case is waiting for you to read, but {cases} wait{'s' if n == 1 else ''} for "
            "adjudication and no other radiologist is active to adjudicate; an admin is told."
        )
    return (
        f"No case is waiting for you to read; {cases} wait{'s' if n == 1 else ''} for "
        "adjudication by another radiologist."
    )


class CaseView(RoleRequiredMixin, TemplateView):
    """The review screen. GET shows the case (one audit event); POST records a read."""

    roles = (Role.RADIOLOGIST,)
    template_name = "reviews/case.html"

    def _case(self) -> Case:
        try:
            case = selectors.case_detail(public_id=self.kwargs["public_id"])
        except Case.DoesNotExist as missing:
            raise Http404 from missing
        if not rules.can_view_case(self.request.user, case):
            raise PermissionDenied
        return case

    def get(self, request, *args, **kwargs):
        case = self._case()
        options = SiteOptions.current()
        holds = rules.can_review_case(request.user, case)
        ai_hidden = holds and services.ai_is_hidden(case=case, options=options)
        audit_record(
            action=Action.SCAN_VIEWED if ai_hidden else Action.PREDICTION_SHOWN,
            request=request,
            target=case.scan,
            details={"case": str(case.public_id), "status": case.status},
        )
        can_claim = (
            not holds and case.is_open and services.case_claimable(case=case, reader=request.user)
        )
        return self.render_to_response(
            self.get_context_data(
                case=case, holds=holds, ai_hidden=ai_hidden, form=ReviewForm(), can_claim=can_claim
            )
        )

    def get_context_data(self, *, case, holds, ai_hidden, form, **kwargs):
        prediction = case.prediction
        probabilities = sorted(
            ((TumourClass(k).label, k, v) for k, v in prediction.probabilities.items()),
            key=lambda row: -row[2],
        )
        # Reads stay hidden while a case waits for a blinded second read or adjudication
        # by someone else; the adjudicator sees both reads, and so do both readers when they
        # settle a disagreement together (consensus).
        consensus = services.can_reach_consensus(case=case, reader=self.request.user)
        show_reads = (
            not case.is_open or (holds and case.status == Case.Status.ADJUDICATION) or consensus
        )
        slices = selectors.case_slices_with_predictions(case=case) if case.study_id else []
        # What matches the case to the patient's clinical report (studies received from the
        # PACS only); every page that shows it is audited.
        clinical = clinical_selectors.case_identity(case)
        if clinical is not None:
            clinical_link_view_record(request=self.request, cases=[case], where="case")
        # A blind reader starts at the first slice: the key slice would give the AI away.
        start = (
            0
            if ai_hidden
            else next((i for i, s in enumerate(slices) if s.scan.pk == case.scan_id), 0)
        )
        return super().get_context_data(
            case=case,
            holds=holds,
            ai_hidden=ai_hidden,
            form=form,
            prediction=prediction,
            probabilities=probabilities,
            classes=list(enumerate(ReadLabel.choices, start=1)),
            reasons=Review.Reason.choices,
            skip_reasons=CaseSkip.Reason.choices,
            reviews=list(selectors.case_reviews(case=case)) if show_reads else [],
            slices=slices,
            clinical=clinical,
            start_slice=start,
            consensus=consensus,
            operating_point=operating_point(prediction.model_version),
            assign_form=AssignForm(
                initial={"assignee": case.assigned_to_id},
                readers=_radiologists().filter(is_active=True),
            )
            if case.is_open
            else None,
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        case = self._case()
        if request.POST.get("step") == "initial":
            form = InitialLabelForm(request.POST)
            if form.is_valid():
                try:
                    services.case_record_blind_label(
                        case=case, reader=request.user, label=form.cleaned_data["label"]
                    )
                except ValidationError as error:
                    messages.error(request, " ".join(error.messages))
            return redirect("reviews:case", public_id=case.public_id)
        if request.POST.get("step") == "amend":
            return self._amend(request, case)
        if request.POST.get("step") == "assign":
            return self._assign(request, case)
        if request.POST.get("step") in ("propose", "confirm"):
            return self._consensus(request, case)
        form = ReviewForm(request.POST)
        if form.is_valid():
            try:
                services.review_submit(
                    case=case, reader=request.user, request=request, **form.cleaned_data
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect("reviews:case", public_id=case.public_id)
            messages.success(request, "Read recorded.")
            return _to_next_case(request)
        messages.error(request, "Choose a class.")
        return redirect("reviews:case", public_id=case.public_id)

    def _assign(self, request, case):
        form = AssignForm(request.POST, readers=_radiologists().filter(is_active=True))
        if not form.is_valid():
            messages.error(request, "Choose a radiologist.")
            return redirect("reviews:case", public_id=case.public_id)
        assignee = form.cleaned_data["assignee"]
        try:
            services.case_assign(case=case, actor=request.user, assignee=assignee, request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            who = f"{assignee}'s queue" if assignee else "everyone's queue"
            messages.success(request, f"The case is in {who}.")
        return redirect("reviews:case", public_id=case.public_id)

    def _consensus(self, request, case):
        form = ConsensusForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose the class you agree on.")
            return redirect("reviews:case", public_id=case.public_id)
        act = (
            services.case_consensus_propose
            if request.POST["step"] == "propose"
            else services.case_consensus_confirm
        )
        try:
            act(case=case, reader=request.user, request=request, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                "Proposed: it waits for the other reader to confirm."
                if request.POST["step"] == "propose"
                else "Consensus recorded: the case is reported.",
            )
        return redirect("reviews:case", public_id=case.public_id)

    def _amend(self, request, case):
        form = AmendForm(request.POST)
        if not form.is_valid():
            messages.error(request, "An amendment needs a class, a reason and a note.")
            return redirect("reviews:case", public_id=case.public_id)
        try:
            services.case_amend(
                case=case, reader=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Report amended: the next dataset export carries it.")
        return redirect("reviews:case", public_id=case.public_id)


def _file_response(name: str):
    if not name or not default_storage.exists(name):
        raise Http404
    response = FileResponse(default_storage.open(name, "rb"))
    response["Cache-Control"] = "private, no-store"
    return response


def _viewable_case(request, public_id) -> Case:
    case = Case.objects.select_related("scan", "prediction").filter(public_id=public_id).first()
    if case is None or not rules.can_view_case(request.user, case):
        raise Http404
    return case


def _heatmap_hidden(request, case: Case) -> bool:
    """The heat map gives the AI's answer away: a blind reader gets it only afterwards."""
    holds = rules.can_review_case(request.user, case)
    return holds and services.ai_is_hidden(case=case, options=SiteOptions.current())


class CaseFileView(RoleRequiredMixin, View):
    """Serves a case's key-slice image or heat map through the role and object checks.

    The review page that embeds the file already wrote the case's audit event, so the bytes
    themselves are not audited again.
    """

    roles = (Role.RADIOLOGIST,)
    kind = "image"

    def get(self, request, public_id):
        case = _viewable_case(request, public_id)
        if self.kind == "image":
            return _file_response(case.scan.image.name)
        hidden = _heatmap_hidden(request, case)
        return _file_response("" if hidden else case.prediction.heatmap.name)


class CaseSliceFileView(RoleRequiredMixin, View):
    """One slice of a study case: its 8-bit image, 16-bit pixels or latest heat map, for
    slices of that case only (the case page wrote the audit event)."""

    roles = (Role.RADIOLOGIST,)
    kind = "image"

    def get(self, request, public_id, scan_id):
        case = _viewable_case(request, public_id)
        scan = selectors.case_slices(case=case).filter(public_id=scan_id).first()
        if scan is None:
            raise Http404
        if self.kind == "image":
            return _file_response(scan.image.name)
        if self.kind == "pixels":
            return pixels_response(scan)
        prediction = scan.predictions.order_by("-created_at", "-pk").first()
        hidden = prediction is None or _heatmap_hidden(request, case)
        return _file_response("" if hidden else prediction.heatmap.name)


class AgreementView(RoleRequiredMixin, TemplateView):
    roles = (Role.RADIOLOGIST, Role.ADMIN)
    template_name = "reviews/agreement.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(report=selectors.agreement_report(), **kwargs)


class SiteOptionsView(RoleRequiredMixin, FormView):
    roles = (Role.ADMIN,)
    template_name = "reviews/site_options.html"
    form_class = SiteOptionsForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": SiteOptions.current()}

    def form_valid(self, form):
        services.site_options_update(
            actor=self.request.user, request=self.request, **form.cleaned_data
        )
        messages.success(self.request, "Site options saved.")
        return redirect(reverse("reviews:site_options"))
