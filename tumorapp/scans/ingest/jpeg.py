"""JPEG uploads (EXIF orientation applied, so the stored PNG looks as the scanner meant)."""

from PIL import ImageOps

from tumorapp.scans.ingest import Reader, pillow_read, register


def _read(data, limits):
    return ImageOps.exif_transpose(pillow_read(data, limits, "JPEG"))


READER = register(Reader(format="jpeg", magics=(b"\xff\xd8\xff",), read=_read))
