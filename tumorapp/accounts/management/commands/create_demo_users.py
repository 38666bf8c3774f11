from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tumorapp.accounts.models import User
from tumorapp.accounts.roles import Role
from tumorapp.accounts.services import user_create

DEMO_USERS = (
    ("radiologist", Role.RADIOLOGIST, "Rita", "Radiologist"),
    ("technologist", Role.TECHNOLOGIST, "Tom", "Technologist"),
    ("admin", Role.ADMIN, "Ada", "Admin"),
    ("datateam", Role.DATA_TEAM, "Dana", "Data"),
)
DEMO_PASSWORD_SUFFIX = "-demo-pass"  # noqa: S105 (demo accounts, embedded only)


class Command(BaseCommand):
    help = (
        "Create one demo user per role for the embedded run. Password: <username>-demo-pass. "
        "Refuses to run on a PostgreSQL deployment unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true")

    def handle(self, *args, **opts):
        if not settings.EMBEDDED and not opts["force"]:
            raise CommandError("Demo users are for the embedded site; use --force to insist.")
        for username, role, first, last in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                self.stdout.write(f"{username:13} exists")
                continue
            user_create(
                username=username,
                role=role,
                password=username + DEMO_PASSWORD_SUFFIX,
                first_name=first,
                last_name=last,
                validate=False,
            )
            self.stdout.write(f"{username:13} password {username}{DEMO_PASSWORD_SUFFIX}")
