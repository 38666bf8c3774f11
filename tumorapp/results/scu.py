"""Sending results to the department's PACS over DICOM (pynetdicom), and checking it answers.

Pure (no Django): the caller passes the destination. A PACS that cannot be reached, refuses
the association or aborts it is *unavailable* (``DestinationUnavailable``, a ``ConnectionError``:
try again later); a PACS that takes the association but answers the C-STORE with a failure
status has *refused* the object (``StoreRefused``: sending it again would fail again).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from io import BytesIO

from pydicom import dcmread
from pynetdicom import AE, build_context
from pynetdicom.sop_class import Verification

# C-STORE statuses that store the object: success, and the warnings (coercion, elements
# discarded, data set does not match the SOP class) after which the PACS holds it.
_STORED = {0x0000, 0xB000, 0xB006, 0xB007}


class DestinationUnavailable(ConnectionError):
    """The destination could not be reached or would not talk; worth another attempt."""


class StoreRefused(Exception):
    """The destination answered the C-STORE with a failure status."""


@dataclass(frozen=True)
class Destination:
    ae_title: str
    host: str
    port: int
    calling_ae_title: str = "NEUROTRIAGE"
    timeout: float = 10.0

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class EchoResult:
    ok: bool
    detail: str
    milliseconds: float


def _ae(destination: Destination) -> AE:
    ae = AE(ae_title=destination.calling_ae_title)
    ae.acse_timeout = destination.timeout
    ae.dimse_timeout = destination.timeout
    ae.network_timeout = destination.timeout
    ae.connection_timeout = destination.timeout
    return ae


def echo(destination: Destination) -> EchoResult:
    """C-ECHO the destination: whether it answered, and in how long."""
    ae = _ae(destination)
    ae.add_requested_context(Verification)
    started = time.monotonic()
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        return EchoResult(False, _why_not(assoc, destination), _since(started))
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status and status.Status == 0x0000:
        return EchoResult(True, "answers C-ECHO", _since(started))
    detail = f"{destination} answered C-ECHO with {_status_text(status)}"
    return EchoResult(False, detail, _since(started))


def _since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def store(destination: Destination, data: bytes) -> None:
    """C-STORE one encoded DICOM file (Part 10 bytes), in the transfer syntax it is in.

    Raises ``DestinationUnavailable`` (try again) or ``StoreRefused`` (do not)."""
    dataset = dcmread(BytesIO(data))
    syntax = dataset.file_meta.TransferSyntaxUID
    ae = _ae(destination)
    ae.requested_contexts = [build_context(dataset.SOPClassUID, [syntax])]
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        raise DestinationUnavailable(_why_not(assoc, destination))
    try:
        status = assoc.send_c_store(dataset)
    finally:
        if assoc.is_established:
            assoc.release()
    if not status:
        # No status: the association was aborted or timed out mid-way; the PACS may or may
        # not hold the object, and sending the same SOP Instance UID again is safe.
        raise DestinationUnavailable(f"{destination} did not answer the C-STORE")
    if status.Status not in _STORED:
        raise StoreRefused(f"{destination} refused the object: {_status_text(status)}")


def _why_not(assoc, destination: Destination) -> str:
    if assoc.is_rejected:
        return f"{destination} rejected the association"
    # pynetdicom reports a refused TCP connection as an aborted association: tell them apart.
    try:
        socket.create_connection((destination.host, destination.port), timeout=2).close()
    except OSError as exc:
        return f"{destination} could not be reached ({exc.strerror or exc})"
    return f"{destination} aborted the association"


def _status_text(status) -> str:
    if not status or "Status" not in status:
        return "no status"
    text = f"status 0x{status.Status:04X}"
    if "ErrorComment" in status:
        text += f" ({status.ErrorComment})"
    return text
