"""The clinical link's tables. Every identifying value is inside a Fernet token
(``crypto.seal``): the database, its backups and anyone reading the tables see ciphertext."""

from django.db import models

from tumorapp.scans.models import Scan, Study


class StudyLink(models.Model):
    """A received study's identity at the hospital: original Study Instance UID, accession
    number, patient ID and name, study date (one sealed JSON object)."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="clinical_link")
    token = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Clinical link of study {self.study_id}"


class InstanceLink(models.Model):
    """A received slice's original Series and SOP Instance UIDs and SOP class (sealed):
    what a result sent back to the PACS must reference."""

    scan = models.OneToOneField(Scan, on_delete=models.CASCADE, related_name="clinical_link")
    token = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Clinical link of scan {self.scan_id}"
