"""One ranking rule: unusual (out-of-distribution) images first, then the AI's answer.

Bands before: 0 escalated, 1 suspected, 2 uncertain, 3 routine. After: 0 unusual image,
1 escalated, 2 suspected, 3 uncertain, 4 routine. Every case moves up one band (reported
cases too, so the turnaround figures keep their bands, as do the stored quality roll-ups);
cases still waiting for their first read are ranked again by the new rule.
"""

from django.db import migrations
from django.db.models import F

UNUSUAL, ESCALATED, SUSPECTED, UNCERTAIN, ROUTINE = range(5)
UNCERTAIN_TOP_PROBABILITY = 0.6


def priority(p_tumor, probabilities, suspected, ood, ood_score) -> int:
    if ood:
        return UNUSUAL * 1000 + round(999 / (1.0 + max(ood_score or 0.0, 0.0)))
    p_order = round((1.0 - min(max(p_tumor, 0.0), 1.0)) * 999)
    if suspected:
        return SUSPECTED * 1000 + p_order
    top = max((probabilities or {}).values(), default=0.0)
    if top < UNCERTAIN_TOP_PROBABILITY:
        return UNCERTAIN * 1000 + round(min(max(top, 0.0), 1.0) * 999)
    return ROUTINE * 1000 + p_order


def forwards(apps, schema_editor):
    Case = apps.get_model("reviews", "Case")
    DailyCounts = apps.get_model("quality", "DailyCounts")
    Case.objects.update(priority=F("priority") + 1000)
    waiting = Case.objects.filter(status="first_read", first_reader__isnull=True).values_list(
        "pk",
        "priority",
        "prediction__p_tumor",
        "prediction__probabilities",
        "prediction__tumor_suspected",
        "prediction__ood",
        "prediction__ood_score",
    )
    for pk, old, p_tumor, probabilities, suspected, ood, score in waiting.iterator(2000):
        new = priority(p_tumor, probabilities, suspected, ood, score)
        if old // 1000 == ESCALATED:
            new = min(new, ESCALATED * 1000 + new % 1000)
        if new != old:
            Case.objects.filter(pk=pk).update(priority=new)
    for row in DailyCounts.objects.all().iterator(500):
        changed = False
        for stage in ("prediction_to_final", "upload_to_prediction"):
            per_band = row.counts.get(stage)
            if isinstance(per_band, dict):
                row.counts[stage] = {
                    (str(int(band) + 1) if band.isdigit() else band): bins
                    for band, bins in per_band.items()
                }
                changed = True
        if changed:
            row.save(update_fields=["counts"])


class Migration(migrations.Migration):
    dependencies = [
        ("quality", "0001_initial"),
        ("reviews", "0008_case_skip"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
