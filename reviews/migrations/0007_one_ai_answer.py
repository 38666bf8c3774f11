"""One AI answer: stored predictions and cases take the answer that agrees with the flag.

Before, a prediction's label (and its case's AI class) was the most likely of the four
classes while "suspected tumour" used the sensitive threshold, so a flagged scan could answer
"no tumour". The answer is recomputed from the stored probabilities and flag: the most likely
tumour class when flagged, else no tumour. Reads keep the AI class they were shown.
"""

from django.db import migrations

NO_TUMOR = "no_tumor"
TUMOUR_CLASSES = ("glioma", "meningioma", "pituitary")


def answer(probabilities: dict, tumor_suspected: bool) -> str:
    if not tumor_suspected:
        return NO_TUMOR
    return max(TUMOUR_CLASSES, key=lambda c: probabilities.get(c, 0.0))


def recompute(apps, schema_editor):
    Prediction = apps.get_model("inference", "Prediction")
    Case = apps.get_model("reviews", "Case")
    rows = Prediction.objects.values_list("pk", "probabilities", "tumor_suspected", "label")
    for pk, probabilities, suspected, label in rows.iterator(chunk_size=2000):
        new = answer(probabilities or {}, suspected)
        if new != label:
            Prediction.objects.filter(pk=pk).update(label=new)
    cases = Case.objects.values_list("pk", "prediction__label", "ai_label")
    for pk, label, ai_label in cases.iterator(chunk_size=2000):
        if label != ai_label:
            Case.objects.filter(pk=pk).update(ai_label=label)


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0001_initial"),
        ("reviews", "0006_tumour_type_unknown"),
    ]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
