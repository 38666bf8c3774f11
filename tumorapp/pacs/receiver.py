"""The platform's DICOM node: a C-STORE SCP (pynetdicom) that hands every instance to
``services.instance_receive`` and answers C-ECHO.

1. Peers: a connection from an address outside ``DICOM_RECEIVER_ALLOWED_ADDRESSES`` is
   closed before any association; an association from a calling AE title outside
   ``DICOM_RECEIVER_ALLOWED_AE_TITLES``, to another called AE title, or beyond
   ``DICOM_RECEIVER_MAX_ASSOCIATIONS`` at once is rejected. Each is recorded with its reason.
2. Contexts: every storage SOP class is negotiated, so that an instance the platform does
   not read (CT, a secondary capture, ...) gets a refusal with a recorded reason instead of
   a silent negotiation failure; only MR and Enhanced MR are stored (services).
3. Each association runs in its own thread with its own database connection, closed when
   the association ends.
4. A timer thread finalises quiet studies (``received_studies_finalise``); beat does the
   same, so a study completes even while the receiver is down.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from tumorapp.pacs import services
from tumorapp.pacs.models import DicomAssociation

logger = logging.getLogger(__name__)


def _address_allowed(address: str) -> bool:
    networks = settings.DICOM_RECEIVER_ALLOWED_NETWORKS
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class _Server(ThreadedAssociationServer):
    """Closes connections from addresses that may not send, before any association."""

    def verify_request(self, request, client_address) -> bool:  # socketserver's hook
        address, port = client_address[0], client_address[1]
        if _address_allowed(address):
            return True
        try:
            services.association_reject(
                calling_ae_title="",
                called_ae_title="",
                address=address,
                port=port,
                reason=f"The address {address} may not send to this node "
                "(DICOM_RECEIVER_ALLOWED_ADDRESSES).",
            )
        except Exception:
            logger.exception("could not record a refused connection")
        finally:
            connection.close()
        return False


def _peer(event) -> tuple[str, int | None]:
    requestor = event.assoc.requestor
    return str(requestor.address), int(requestor.port) if requestor.port else None


def _on_rejected(event) -> None:
    """Record why pynetdicom rejected an association (it checks the AE titles and the
    limit; we name which)."""
    close_old_connections()
    calling = str(event.assoc.requestor.ae_title or "").strip()
    called = str(event.assoc.acceptor.primitive.called_ae_title or "").strip()
    if calling not in settings.DICOM_RECEIVER_ALLOWED_AE_TITLES:
        reason = f"The calling AE title {calling!r} may not send to this node."
    elif called != settings.DICOM_RECEIVER_AE_TITLE:
        ours = settings.DICOM_RECEIVER_AE_TITLE
        reason = f"The called AE title {called!r} is not this node's ({ours})."
    else:
        reason = (
            f"Too many associations at once (at most {settings.DICOM_RECEIVER_MAX_ASSOCIATIONS})."
        )
    address, port = _peer(event)
    try:
        services.association_reject(
            calling_ae_title=calling,
            called_ae_title=called,
            address=address,
            port=port,
            reason=reason,
        )
    finally:
        connection.close()
    logger.info("DICOM association rejected from %s: %s", address, reason)


def _on_established(event) -> None:
    close_old_connections()
    address, port = _peer(event)
    association = services.association_open(
        calling_ae_title=str(event.assoc.requestor.ae_title or ""),
        called_ae_title=str(event.assoc.acceptor.ae_title or ""),
        address=address,
        port=port,
    )
    event.assoc.neurotriage_association_id = association.pk


def _on_closed(event, aborted: bool) -> None:
    association_id = getattr(event.assoc, "neurotriage_association_id", None)
    try:
        if association_id is not None:
            services.association_close(association_id=association_id, aborted=aborted)
    finally:
        connection.close()


def _on_store(event) -> int:
    close_old_connections()
    request = event.request
    try:
        data = event.encoded_dataset(include_meta=True)
        received = services.instance_receive(
            association_id=getattr(event.assoc, "neurotriage_association_id", None),
            sop_class_uid=str(request.AffectedSOPClassUID or ""),
            sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
            data=data,
        )
    except Exception:
        # The database or the store is down: nothing was kept, the sender tries again.
        logger.exception("DICOM instance not stored; asked the sender to retry")
        connection.close()
        return services.OUT_OF_RESOURCES
    return received.status


def _on_echo(event) -> int:
    return 0x0000


def build_ae() -> AE:
    ae = AE(ae_title=settings.DICOM_RECEIVER_AE_TITLE)
    ae.maximum_associations = settings.DICOM_RECEIVER_MAX_ASSOCIATIONS
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.DICOM_RECEIVER_TIMEOUT
    ae.require_calling_aet = list(settings.DICOM_RECEIVER_ALLOWED_AE_TITLES)
    ae.require_called_aet = True
    ae.add_supported_context(Verification)
    for context in StoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    return ae


HANDLERS = [
    (evt.EVT_C_STORE, _on_store),
    (evt.EVT_C_ECHO, _on_echo),
    (evt.EVT_ESTABLISHED, _on_established),
    (evt.EVT_REJECTED, _on_rejected),
    (evt.EVT_RELEASED, lambda event: _on_closed(event, aborted=False)),
    (evt.EVT_ABORTED, lambda event: _on_closed(event, aborted=True)),
]


class Receiver:
    """The node and its finaliser thread: ``start()``, then ``stop()``."""

    def __init__(self, *, port: int | None = None, bind: str | None = None):
        self.port = settings.DICOM_RECEIVER_PORT if port is None else port
        self.bind = bind or settings.DICOM_RECEIVER_BIND
        self.ae = build_ae()
        self.server: _Server | None = None
        self._serving: threading.Thread | None = None
        self._stop = threading.Event()
        self._started_at = timezone.now()
        self._finaliser = threading.Thread(
            target=self._finalise_loop, name="finaliser", daemon=True
        )

    def start(self) -> None:
        stale = DicomAssociation.objects.filter(status=DicomAssociation.Status.OPEN).update(
            status=DicomAssociation.Status.ABORTED,
            ended_at=timezone.now(),
            reason="The receiver stopped during this association.",
        )
        if stale:
            logger.warning("%s associations were open when the receiver last stopped", stale)
        connection.close()
        self.server = self.ae.make_server(
            (self.bind, self.port), evt_handlers=HANDLERS, server_class=_Server
        )
        self._serving = threading.Thread(
            target=self.server.serve_forever, name="dicom-server", daemon=True
        )
        self._serving.start()
        # As AE.start_server(block=False) does: the AE knows its server, whose shutdown()
        # removes it again (start_server cannot take our server class).
        self.ae._servers.append(self.server)
        self._beat()
        self._finaliser.start()
        logger.info(
            "DICOM receiver %s listening on %s:%s",
            settings.DICOM_RECEIVER_AE_TITLE,
            self.bind,
            self.port,
        )

    def request_stop(self) -> None:
        """Make ``wait()`` return (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.shutdown()
        self._finaliser.join(timeout=10)

    def wait(self) -> None:
        self._stop.wait()

    def _beat(self) -> None:
        services.receiver_heartbeat(
            node=f"{settings.DICOM_RECEIVER_AE_TITLE}@{self.bind}:{self.port}",
            pid=os.getpid(),
            started_at=self._started_at,
        )

    def _finalise_loop(self) -> None:
        interval = min(max(settings.DICOM_STUDY_QUIET_SECONDS / 4, 0.5), 10.0)
        while not self._stop.wait(interval):
            try:
                close_old_connections()
                self._beat()
                done = services.received_studies_finalise()
                if done:
                    logger.info("%s received studies complete: their slices are queued", done)
            except Exception:
                logger.exception("finalising quiet studies failed; trying again")
            finally:
                connection.close()
