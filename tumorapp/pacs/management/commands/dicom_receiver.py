"""manage.py dicom_receiver [--port N] [--bind ADDRESS]

Runs the platform's DICOM node (tumorapp.pacs.receiver) until SIGTERM or SIGINT: studies
routed from the PACS or sent by a scanner are stored, de-identified, and become cases once
complete. Configuration: DICOM_RECEIVER_* and DICOM_STUDY_QUIET_SECONDS (docs/pacs.md).
"""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tumorapp.pacs.receiver import Receiver


class Command(BaseCommand):
    help = "Run the DICOM receiver (C-STORE SCP and C-ECHO) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="DICOM_RECEIVER_PORT")
        parser.add_argument("--bind", default=None, help="DICOM_RECEIVER_BIND")

    def handle(self, *args, port, bind, **options):
        if not settings.DICOM_RECEIVER_ALLOWED_AE_TITLES:
            raise CommandError(
                "DICOM_RECEIVER_ALLOWED_AE_TITLES: name the calling AE titles that may send "
                "(the PACS, scanners); with none, nobody could."
            )
        receiver = Receiver(port=port, bind=bind)
        receiver.start()
        self.stdout.write(
            f"DICOM receiver {settings.DICOM_RECEIVER_AE_TITLE} on {receiver.bind}:"
            f"{receiver.port}, accepting {', '.join(settings.DICOM_RECEIVER_ALLOWED_AE_TITLES)}",
        )
        self.stdout.flush()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: receiver.request_stop())
        receiver.wait()
        receiver.stop()
        self.stdout.write("DICOM receiver stopped")
