"""The site's navigation: one list, each entry naming the roles that see it."""

from __future__ import annotations

from dataclasses import dataclass

from tumorapp.accounts.roles import Role

ALL_ROLES = tuple(Role)


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: tuple[Role, ...]
    description: str = ""


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Home", "core:home", ALL_ROLES),
    NavItem(
        "Upload",
        "scans:upload",
        (Role.TECHNOLOGIST,),
        "Drop PNG, JPEG or DICOM slices; each is checked, stored and read by the model.",
    ),
    NavItem(
        "My uploads",
        "scans:mine",
        (Role.TECHNOLOGIST,),
        "Your uploaded scans, their status and the model's reading.",
    ),
    NavItem(
        "Worklist",
        "reviews:worklist",
        (Role.RADIOLOGIST,),
        "Cases in triage order; claim the next one and review it from the keyboard.",
    ),
    NavItem(
        "Agreement",
        "reviews:agreement",
        (Role.RADIOLOGIST, Role.ADMIN),
        "Inter-reader agreement (Cohen's kappa) and how often readers follow the AI.",
    ),
    NavItem(
        "Quality",
        "quality:dashboard",
        (Role.ADMIN, Role.DATA_TEAM),
        "The model against radiologists, input drift across scanners, turnaround, automation bias.",
    ),
    NavItem(
        "Datasets",
        "datasets:export_list",
        (Role.DATA_TEAM,),
        "Export reviewed cases as versioned training data (images, manifest, dataset card).",
    ),
    NavItem(
        "Models",
        "registry:model_list",
        (Role.ADMIN, Role.DATA_TEAM),
        "Model versions: retrain from exports, compare a candidate with the active model, "
        "promote or roll back.",
    ),
    NavItem(
        "Site options",
        "reviews:site_options",
        (Role.ADMIN,),
        "Double-read rate, blind first read, claim lease and escalation time.",
    ),
    NavItem(
        "Quarantine",
        "dicom:quarantine",
        (Role.ADMIN,),
        "DICOM slices that may carry burned-in identifying text: release or reject each.",
    ),
    NavItem(
        "DICOM traffic",
        "results:traffic",
        (Role.TECHNOLOGIST, Role.ADMIN),
        "Studies received from the PACS, instances refused and why, results sent back "
        "(pending, failed: retry).",
    ),
    NavItem(
        "Users",
        "accounts:user_list",
        (Role.ADMIN,),
        "Accounts and roles: create, change, deactivate, reset passwords.",
    ),
    NavItem(
        "Audit log",
        "audit:event_list",
        (Role.ADMIN,),
        "Who did what and when; filter, inspect and export.",
    ),
    NavItem("API", "api-docs", ALL_ROLES, "The REST API and its interactive documentation."),
)


def navigation_for(user) -> list[NavItem]:
    role = getattr(user, "role", None)
    return [item for item in NAVIGATION if role in item.roles]
