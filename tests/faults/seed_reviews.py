"""Seed a fresh database for the outage tests: ``python -m tests.faults.seed_reviews N`` makes
two radiologists and a technologist (with API tokens) and N cases waiting for a first read,
with double reading off so each read reports its case. Prints the tokens as JSON."""

import json
import sys

import django


def main(cases: int) -> None:
    django.setup()
    from rest_framework.authtoken.models import Token

    from reviews.models import SiteOptions
    from reviews.services import case_open_for_prediction
    from tests.factories import PredictionFactory, UserFactory
    from tumorapp.accounts.roles import Role

    SiteOptions.objects.update_or_create(pk=1, defaults={"double_read_rate": 0.0})
    readers = [UserFactory(username=f"reader{i}", role=Role.RADIOLOGIST) for i in range(2)]
    for i in range(cases):
        case_open_for_prediction(prediction=PredictionFactory(p_tumor=0.9 - i * 0.001))
    uploader = UserFactory(username="uploader", role=Role.TECHNOLOGIST)
    print(
        json.dumps(
            {
                "readers": [Token.objects.create(user=r).key for r in readers],
                "technologist": Token.objects.create(user=uploader).key,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
