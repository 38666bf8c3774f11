"""The platform as a DICOM node: the receiver (a C-STORE SCP) and what it records, the
associations and the instances it received, stored, refused or quarantined, and why."""
