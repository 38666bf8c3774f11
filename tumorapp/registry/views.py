"""Model registry pages: versions, retraining, comparison, promotion, rollback, re-scoring.

The data team trains and compares; only admins promote, roll back and re-score.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView

from reviews.models import TumourClass
from tumorapp.accounts.access import RoleRequiredMixin
from tumorapp.accounts.roles import Role
from tumorapp.core import confirm
from tumorapp.registry import gate, selectors, services
from tumorapp.registry.forms import ComparisonForm, OperatingPointForm, TrainingForm
from tumorapp.registry.models import Comparison, ModelVersion
from tumorapp.scans.models import Scan

VIEW_ROLES = (Role.ADMIN, Role.DATA_TEAM)
TRAIN_ROLES = (Role.DATA_TEAM,)
PROMOTE_ROLES = (Role.ADMIN,)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _training_form(active: ModelVersion | None) -> TrainingForm:
    recipe = selectors.training_recipe(active) if active else None
    return TrainingForm(initial={"init_from": active}, recipe=recipe)


class ModelListView(RoleRequiredMixin, TemplateView):
    roles = VIEW_ROLES
    template_name = "registry/model_list.html"

    def get_context_data(self, **kwargs):
        trainings = list(selectors.training_jobs()[:20])
        comparisons = list(selectors.comparisons()[:20])
        rescores = list(selectors.rescore_jobs()[:5])
        for job in rescores:
            job.done_now = selectors.rescore_done(job=job)
        running = any(j.status in ("queued", "running") for j in trainings + comparisons)
        is_data_team = self.request.user.has_role(*TRAIN_ROLES)
        active = selectors.active_model()
        return super().get_context_data(
            models=selectors.models_list(),
            active=active,
            trainings=trainings,
            comparisons=comparisons,
            rescores=rescores,
            running=running,
            training_form=_training_form(active) if is_data_team else None,
            comparison_form=ComparisonForm() if is_data_team else None,
            can_promote=self.request.user.has_role(*PROMOTE_ROLES),
            **kwargs,
        )


class ModelDetailView(RoleRequiredMixin, DetailView):
    roles = VIEW_ROLES
    template_name = "registry/model_detail.html"
    context_object_name = "model"

    def get_object(self, queryset=None):
        try:
            return selectors.model_detail(public_id=self.kwargs["public_id"])
        except ModelVersion.DoesNotExist:
            raise Http404 from None

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            can_promote=self.request.user.has_role(*PROMOTE_ROLES), **kwargs
        )


class TrainingCreateView(RoleRequiredMixin, FormView):
    roles = TRAIN_ROLES
    form_class = TrainingForm
    template_name = "registry/training_form.html"

    def get_form_kwargs(self):
        active = selectors.active_model()
        return {
            **super().get_form_kwargs(),
            "initial": {"init_from": active},
            "recipe": selectors.training_recipe(active) if active else None,
        }

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            job = services.training_job_create(
                actor=self.request.user,
                exports=list(data["exports"]),
                include_base=data["include_base"],
                base_excluded_reason=data["base_excluded_reason"],
                init_from=data["init_from"],
                from_scratch=data["from_scratch"],
                epochs=data["epochs"],
                request=self.request,
            )
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
            return self.form_invalid(form)
        messages.success(self.request, f"Training {job.version} is queued.")
        return redirect("registry:training_detail", public_id=job.public_id)


class TrainingDetailView(RoleRequiredMixin, DetailView):
    roles = VIEW_ROLES
    template_name = "registry/training_detail.html"
    context_object_name = "job"
    slug_field = slug_url_kwarg = "public_id"

    def get_queryset(self):
        return selectors.training_jobs()


class ComparisonCreateView(RoleRequiredMixin, FormView):
    roles = TRAIN_ROLES
    form_class = ComparisonForm
    template_name = "registry/comparison_form.html"

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            comparison = services.comparison_create(
                actor=self.request.user,
                candidate=data["candidate"],
                export=data["export"],
                include_base_testing=data["include_base_testing"],
                request=self.request,
            )
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
            return self.form_invalid(form)
        return redirect("registry:comparison_detail", public_id=comparison.public_id)


class ComparisonDetailView(RoleRequiredMixin, DetailView):
    roles = VIEW_ROLES
    template_name = "registry/comparison_detail.html"
    context_object_name = "comparison"
    slug_field = slug_url_kwarg = "public_id"

    def get_queryset(self):
        return selectors.comparisons()

    def get_context_data(self, **kwargs):
        comparison = self.object
        sets = []
        for name in ("reviewed", "base_testing"):
            figures = (comparison.result.get("sets") or {}).get(name)
            if figures is None:
                continue
            recall = [
                (
                    label,
                    figures["candidate"].get("recall", {}).get(label),
                    figures["baseline"].get("recall", {}).get(label),
                    (figures["candidate"].get("recall_ci") or {}).get(label),
                    (figures["baseline"].get("recall_ci") or {}).get(label),
                )
                for label in TumourClass.values
            ]
            sets.append({"name": name, "recall_rows": recall, **figures})
        return super().get_context_data(
            sets=sets,
            regressions=gate.regressions(comparison.result or {}),
            can_promote=self.request.user.has_role(*PROMOTE_ROLES)
            and comparison.candidate.status != ModelVersion.Status.ACTIVE,
            **kwargs,
        )


class ComparisonImageView(RoleRequiredMixin, View):
    """A thumbnail of a case the two models disagree on: only images the comparison lists."""

    roles = VIEW_ROLES

    def get(self, request, public_id, set_name, index):
        comparison = Comparison.objects.filter(public_id=public_id).first()
        cases = ((comparison.result.get("sets") or {}).get(set_name) or {}) if comparison else {}
        listed = cases.get("disagreement_cases") or []
        if index >= len(listed):
            raise Http404
        ref = listed[index]["ref"]
        if set_name == "reviewed":
            scan = Scan.objects.filter(public_id=ref).exclude(status="quarantined").first()
            if scan is None:
                raise Http404
            return FileResponse(
                default_storage.open(scan.image.name, "rb"), content_type="image/png"
            )
        root = Path(settings.REGISTRY_BASE_DATA_DIR).resolve()
        path = (root / ref).resolve()
        if root not in path.parents or not path.is_file():
            raise Http404
        return FileResponse(path.open("rb"))


class OperatingPointView(RoleRequiredMixin, TemplateView):
    """The site's operating point of a version: the tumour threshold fitted on the site's
    reviewed cases for a target sensitivity (GET shows it), applied by POST."""

    roles = PROMOTE_ROLES
    template_name = "registry/operating_point.html"

    def _model(self) -> ModelVersion:
        try:
            return selectors.model_detail(public_id=self.kwargs["public_id"])
        except ModelVersion.DoesNotExist:
            raise Http404 from None

    def get_context_data(self, **kwargs):
        model = self._model()
        form = OperatingPointForm(self.request.GET or None)
        target = form.cleaned_data["target"] if form.is_valid() else 0.97
        if not form.is_bound:
            form = OperatingPointForm(initial={"target": target})
        return super().get_context_data(
            model=model,
            form=form,
            proposal=selectors.operating_point_proposal(model=model, target=target),
            in_force=selectors.site_operating_point(model),
            history=model.operating_points.select_related("applied_by")[:20],
            **kwargs,
        )

    def post(self, request, public_id):
        model = self._model()
        form = OperatingPointForm(request.POST)
        if not form.is_valid():
            messages.error(request, "A target sensitivity between 0.5 and 0.999.")
            return redirect("registry:operating_point", public_id=public_id)
        try:
            point = services.operating_point_apply(
                model=model, target=form.cleaned_data["target"], actor=request.user, request=request
            )
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(
                request,
                f"Threshold {point.threshold:.3f} is in force for {model.version}: new "
                "predictions are flagged with it.",
            )
        return redirect("registry:operating_point", public_id=public_id)


class PromoteView(RoleRequiredMixin, TemplateView):
    """GET states what promoting a version does (and what its comparison says); the POST
    there, with ``confirm=yes``, promotes it."""

    roles = PROMOTE_ROLES
    template_name = "registry/promote_confirm.html"

    def _model(self) -> ModelVersion:
        try:
            return selectors.model_detail(public_id=self.kwargs["public_id"])
        except ModelVersion.DoesNotExist:
            raise Http404 from None

    def get_context_data(self, **kwargs):
        model = self._model()
        active = selectors.active_model()
        return super().get_context_data(
            model=model,
            active=active,
            regressions=services.promotion_regressions(model=model, baseline=active),
            **kwargs,
        )

    def post(self, request, public_id):
        model = self._model()
        if not confirm.confirmed(request):
            return confirm.ask_again(request, "registry:promote", public_id=public_id)
        try:
            services.model_promote(
                model=model,
                actor=request.user,
                override_reason=request.POST.get("override_reason", ""),
                request=request,
            )
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("registry:promote", public_id=public_id)
        messages.success(request, f"{model.version} is active: new scans are predicted with it.")
        return redirect("registry:model_list")


class RollbackView(RoleRequiredMixin, TemplateView):
    """GET states which version comes back and which is retired; the POST there, with
    ``confirm=yes``, rolls back."""

    roles = PROMOTE_ROLES
    template_name = "registry/rollback_confirm.html"

    def get_context_data(self, **kwargs):
        active = selectors.active_model()
        return super().get_context_data(
            active=active, previous=active.replaces if active else None, **kwargs
        )

    def post(self, request):
        if not confirm.confirmed(request):
            return confirm.ask_again(request, "registry:rollback")
        try:
            model = services.model_rollback(actor=request.user, request=request)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, f"Rolled back: {model.version} is active again.")
        return redirect("registry:model_list")


class RescoreView(RoleRequiredMixin, View):
    roles = PROMOTE_ROLES

    def post(self, request):
        try:
            services.rescore_create(actor=request.user, request=request)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, "The waiting cases are being re-predicted.")
        return redirect("registry:model_list")
