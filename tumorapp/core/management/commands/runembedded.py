"""Serve the embedded site (no broker) with its in-process beat: ``make run`` uses this."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from tumorapp.core.beat import EmbeddedBeat


class Command(BaseCommand):
    help = "Serve the embedded site and send the periodic tasks from an in-process beat."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("A broker is configured: run `celery -A tumorapp beat` instead.")
        beat = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE)
        beat.start()
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            beat.stop()
