"""Schema post-processing: every operation documents the errors it can answer with.

The API answers errors in one shape (tumorapp.api.errors). Views declare their success
responses; the error statuses follow from what an operation takes, so they are added here
once instead of in every view: 400 where it reads a body or query, 401 and 403 where it
needs a signed-in role, 404 where the path names an object or the query a page, 413 and
415 for uploads, and 429 and 503 everywhere (throttled; database or broker unreachable, retry).
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
            "required": ["status", "code", "message"],
        }
    },
    "required": ["error"],
}

_DESCRIPTIONS = {
    "400": "The request is invalid; details name the fields.",
    "401": "No valid credentials.",
    "403": "Your role may not do this.",
    "404": "No such object, or not one you may see.",
    "413": "The upload is too large.",
    "415": "The file is not of an accepted type.",
    "429": "Too many requests; see Retry-After.",
    "503": "A backing service is unavailable; retry after Retry-After seconds.",
}


def _statuses(method: str, operation: dict) -> list[str]:
    statuses = ["429", "503"]
    if operation.get("requestBody") or operation.get("parameters"):
        statuses.append("400")
    if operation.get("security") != [{}] and operation.get("security") != []:
        statuses += ["401", "403"]
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "path" or p.get("name") == "page" for p in parameters):
        statuses.append("404")  # or a page past the last
    if method == "post" and "multipart/form-data" in operation.get("requestBody", {}).get(
        "content", {}
    ):
        statuses += ["413", "415"]
    return statuses


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(method, operation):
                responses.setdefault(
                    status,
                    {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
