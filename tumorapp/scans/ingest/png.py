"""PNG uploads."""

from tumorapp.scans.ingest import Reader, pillow_read, register

READER = register(
    Reader(
        format="png",
        magics=(b"\x89PNG\r\n\x1a\n",),
        read=lambda data, limits: pillow_read(data, limits, "PNG"),
    )
)
