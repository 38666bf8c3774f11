from rest_framework import serializers

from reviews import selectors
from reviews.models import Case, ReadLabel, Review


class CaseSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    scan = serializers.UUIDField(
        source="scan.public_id", read_only=True, help_text="the key slice (a study's most urgent)"
    )
    study = serializers.UUIDField(source="study.public_id", read_only=True, allow_null=True)
    slices = serializers.SerializerMethodField(
        help_text="the case's scans in series and instance order (one for PNG and JPEG)"
    )
    band = serializers.CharField(source="band.label", read_only=True)
    assigned_to = serializers.CharField(
        source="assigned_to.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "scan",
            "study",
            "slices",
            "status",
            "band",
            "priority",
            "assigned_to",
            "opened_at",
            "lease_expires_at",
        ]

    def get_slices(self, case: Case) -> list[str]:
        if case.study_id is None:
            return [str(case.scan.public_id)]
        ids = selectors.case_slices(case=case).values_list("public_id", flat=True)
        return [str(i) for i in ids]


class AiAnswerSerializer(serializers.Serializer):
    label = serializers.CharField(source="ai_label")
    p_tumor = serializers.FloatField(source="prediction.p_tumor")
    probabilities = serializers.DictField(source="prediction.probabilities")
    ood = serializers.BooleanField(source="prediction.ood")


class ReviewInSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=ReadLabel.choices)
    reason = serializers.ChoiceField(choices=Review.Reason.choices, required=False, default="")
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
    poor_image_quality = serializers.BooleanField(required=False, default=False)
    key_slice = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="the scan (one of the case's slices) that shows the finding",
    )


class AssignInSerializer(serializers.Serializer):
    assignee = serializers.CharField(
        allow_null=True,
        help_text="a radiologist's username; null puts the case back in everyone's queue",
    )


class AmendInSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=ReadLabel.choices)
    reason = serializers.ChoiceField(choices=Review.Reason.choices)
    note = serializers.CharField(max_length=2000)
    key_slice = serializers.UUIDField(required=False, allow_null=True, default=None)


class ReviewOutSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    case = serializers.UUIDField(source="case.public_id", read_only=True)
    case_status = serializers.CharField(source="case.status", read_only=True)
    final_label = serializers.CharField(source="case.final_label", read_only=True)
    # Plain strings: the classes are the input's enum, and one enum gets one name in the schema.
    ai_label = serializers.CharField(read_only=True)
    initial_label = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    key_slice = serializers.UUIDField(source="key_scan.public_id", read_only=True, allow_null=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "case",
            "kind",
            "label",
            "initial_label",
            "ai_label",
            "reason",
            "note",
            "poor_image_quality",
            "key_slice",
            "created_at",
            "case_status",
            "final_label",
        ]
