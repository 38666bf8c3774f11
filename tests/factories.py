"""All test factories, in one place."""

import factory
from django.contrib.auth.models import Group

from tumorapp.accounts.models import User
from tumorapp.accounts.roles import Role

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@hospital.test")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.set([Group.objects.get(name=Role(extracted).value)])
        if create:
            self.save()


class ScanFactory(factory.django.DjangoModelFactory):
    """A stored scan row. The image file is not written unless a test needs the bytes."""

    class Meta:
        model = "scans.Scan"

    uploaded_by = factory.SubFactory(UserFactory, role=Role.TECHNOLOGIST)
    original_filename = factory.Sequence(lambda n: f"slice-{n}.png")
    source_format = "png"
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size_bytes = 40_000
    image = factory.LazyAttribute(lambda s: f"scans/{s.sha256[:2]}/{s.sha256}.png")
    width = 512
    height = 512
    intensity_mean = 60.0
    intensity_std = 40.0
    intensity_p01 = 0.0
    intensity_p99 = 200.0
    status = "predicted"


class InferenceRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inference.InferenceRun"

    scan = factory.SubFactory(ScanFactory)
    status = "succeeded"
    model_version = "test-model-1"
    attempts = 1


class PredictionFactory(factory.django.DjangoModelFactory):
    """A prediction; pass p_tumor and label, the rest follows."""

    class Meta:
        model = "inference.Prediction"

    class Params:
        threshold = 0.3

    run = factory.SubFactory(InferenceRunFactory)
    scan = factory.LazyAttribute(lambda p: p.run.scan)
    model_version = factory.LazyAttribute(lambda p: p.run.model_version)
    p_tumor = 0.9
    label = "glioma"
    probabilities = factory.LazyAttribute(
        lambda p: {
            "glioma": p.p_tumor if p.label == "glioma" else 0.0,
            "meningioma": p.p_tumor if p.label == "meningioma" else 0.0,
            "pituitary": p.p_tumor if p.label == "pituitary" else 0.0,
            "no_tumor": round(1 - p.p_tumor, 6),
        }
    )
    tumor_suspected = factory.LazyAttribute(lambda p: p.p_tumor >= p.threshold)
    ood = False
    ood_score = 0.1
