from celery import shared_task

from tumorapp.pacs.services import received_studies_finalise


@shared_task(name="pacs.finalise_received_studies")
def finalise_received_studies() -> int:
    return received_studies_finalise()
