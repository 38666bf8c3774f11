import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tumorapp.accounts.roles import Role
from tumorapp.accounts.services import user_create


class Command(BaseCommand):
    help = "Create a user with one role. The password comes from --password-env or a prompt."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="read the password from this environment variable (never from argv, "
            "which other users of the machine can see)",
        )
        parser.add_argument(
            "--no-password", action="store_true", help="create the account without a password"
        )

    def handle(self, *args, **opts):
        if opts["no_password"]:
            password = None
        elif opts["password_env"]:
            password = os.environ.get(opts["password_env"])
            if not password:
                raise CommandError(f"{opts['password_env']} is not set or empty")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match")
        try:
            user = user_create(
                username=opts["username"],
                role=Role(opts["role"]),
                password=password,
                email=opts["email"],
                first_name=opts["first_name"],
                last_name=opts["last_name"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"Created {user.username} ({opts['role']}).")
