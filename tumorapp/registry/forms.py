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
    exports = ExportChoice(
        queryset=_finished_exports(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        to_field_name="public_id",
        label="Exports to train on",
    )
    include_base = forms.BooleanField(
        required=False, label="Also train on the base data set (slower)"
    )
    init_from = VersionChoice(
        queryset=ModelVersion.objects.all(),
        required=False,
        to_field_name="public_id",
        empty_label="Train from scratch",
        label="Fine-tune from",
    )
    epochs = forms.IntegerField(min_value=1, max_value=200, initial=5)

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
