"""Register a model folder (or the shipped one) in the registry, optionally activating it.

manage.py model_register --shipped --activate     # first run: the shipped model serves
manage.py model_register PATH [--activate]
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tumorapp.registry.models import ModelVersion
from tumorapp.registry.selectors import active_model
from tumorapp.registry.services import model_promote, model_register, shipped_model_dir


class Command(BaseCommand):
    help = "Register a model folder as a version; --activate makes it active if none is."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="model folder (manifest.json inside)")
        parser.add_argument("--shipped", action="store_true", help="the shipped model")
        parser.add_argument(
            "--activate",
            action="store_true",
            help="make it the active version when no version is active yet",
        )

    def handle(self, *args, path=None, shipped=False, activate=False, **options):
        if bool(path) == shipped:
            raise CommandError("Give a model folder or --shipped (one of them).")
        folder = shipped_model_dir() if shipped else path
        try:
            model = model_register(path=folder)
        except (FileNotFoundError, ValueError, ValidationError) as exc:
            raise CommandError(f"{folder}: {exc}") from exc
        self.stdout.write(f"registered {model.version} ({model.status})")
        if activate and active_model() is None and model.status != ModelVersion.Status.ACTIVE:
            model_promote(model=model)
            self.stdout.write(f"activated {model.version}")
