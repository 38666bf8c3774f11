from django import forms

from tumorapp.datasets.models import DatasetExport
from tumorapp.registry.models import ModelVersion


def _finished_exports():
    return DatasetExport.objects.filter(status=DatasetExport.Status.SUCCEEDED).order_by(
        "-finished_at"
    )


class ExportChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.short_version} · {obj.total} images · {obj.finished_at:%Y-%m-%d %H:%M}"


class SingleExportChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        test = obj.counts.get("test", {})
        return f"{obj.short_version} · {sum(test.values())} held-out test images"


class VersionChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.version} ({obj.status})"


class TrainingForm(forms.Form):
    """Retraining with the safe defaults: fine-tune the active version, replay the base data,
    the parent's own recipe. Departing from them is explicit (and a reason is asked for
    leaving the base data out)."""

    exports = ExportChoice(
        queryset=_finished_exports(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        to_field_name="public_id",
        label="Exports to train on",
    )
    include_base = forms.BooleanField(
        required=False,
        initial=True,
        label="Also train on the base data set (replay: keeps the classes the site rarely sees)",
    )
    base_excluded_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why leave the base data out? (required when unticked; audited)",
    )
    init_from = VersionChoice(
        queryset=ModelVersion.objects.all(),
        required=False,
        to_field_name="public_id",
        empty_label=None,
        label="Fine-tune from",
    )
    from_scratch = forms.BooleanField(
        required=False, label="Train from scratch instead (not recommended)"
    )
    epochs = forms.IntegerField(
        min_value=1,
        max_value=200,
        required=False,
        label="Epochs (empty: the parent's own recipe)",
    )

    def __init__(self, *args, recipe: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if recipe:
            figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in recipe.items())
            self.fields["epochs"].help_text = f"The parent's recipe: {figures}."

    def clean(self):
        data = super().clean()
        if not data.get("exports") and not data.get("include_base"):
            raise forms.ValidationError("Choose at least one export, or the base data.")
        return data


class ComparisonForm(forms.Form):
    candidate = VersionChoice(
        queryset=ModelVersion.objects.exclude(status=ModelVersion.Status.ACTIVE),
        to_field_name="public_id",
        label="Candidate",
    )
    export = SingleExportChoice(
        queryset=_finished_exports(),
        required=False,
        to_field_name="public_id",
        empty_label="No reviewed cases",
        label="Held-out reviewed cases (the export's test split)",
    )
    include_base_testing = forms.BooleanField(
        required=False, initial=True, label="Also the base data's Testing split"
    )

    def clean(self):
        data = super().clean()
        if not data.get("export") and not data.get("include_base_testing"):
            raise forms.ValidationError("Choose an export, the base Testing split, or both.")
        return data


class OperatingPointForm(forms.Form):
    target = forms.FloatField(
        min_value=0.5,
        max_value=0.999,
        initial=0.97,
        label="Target tumour sensitivity",
        widget=forms.NumberInput(attrs={"step": "0.005"}),
    )
