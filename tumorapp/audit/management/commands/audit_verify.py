from django.core.management.base import BaseCommand, CommandError

from tumorapp.audit.selectors import chain_verify


class Command(BaseCommand):
    help = "Check the audit log's hash chain; name the first broken event and exit 1 if any."

    def handle(self, *args, **options):
        report = chain_verify()
        if not report.ok:
            event = report.broken
            raise CommandError(
                f"audit chain broken at event {event.public_id} (#{event.pk}, "
                f"{event.created_at.isoformat()}, {event.action}): {report.reason}; "
                f"{report.checked} events before it are intact"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} events"))
