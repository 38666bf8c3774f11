"""The clinical link: what ties a case back to the patient's study in the PACS (original
UIDs, accession number, patient ID and name, study date), apart from the research data and
encrypted at rest. Only radiologists see part of it, and every view is audited."""
