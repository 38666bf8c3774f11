"""DICOM pages: studies with their slices, the viewer's 16-bit pixels, de-identified
downloads, and the admins' quarantine of slices that may carry burned-in text.

Ingest and de-identification live with the upload pipeline (tumorapp.scans.ingest.dicom,
tumorapp.scans.deid); this package only shows and decides on what they stored.
"""
