import pytest


@pytest.fixture(autouse=True)
def media_dir(settings, tmp_path):
    """Each test stores files in its own empty folder, so "nothing stored" can be checked."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root, "file_permissions_mode": 0o640},
        },
    }
    return root
