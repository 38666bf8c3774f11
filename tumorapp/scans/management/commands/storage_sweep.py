from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from tumorapp.scans.storage import DEFAULT_AGE, storage_sweep


class Command(BaseCommand):
    help = (
        "Delete stored files (scans/, dicom/, heatmaps/, exports/, health/) that no row names "
        "and that are older than --older-than-hours; --dry-run only counts them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-hours",
            type=int,
            default=int(DEFAULT_AGE.total_seconds() // 3600),
            help="only files last modified this many hours ago or earlier (default 24, min 1)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, **options):
        hours = options["older_than_hours"]
        if hours < 1:
            # A younger file may belong to an upload whose row is not committed yet.
            raise CommandError("--older-than-hours: must be at least 1")
        result = storage_sweep(older_than=timedelta(hours=hours), dry_run=options["dry_run"])
        self.stdout.write(
            f"examined {result.examined}, orphaned {result.orphaned}, "
            f"deleted {result.deleted}, bytes {result.bytes}"
            + (" (dry run: nothing deleted)" if options["dry_run"] else "")
        )
