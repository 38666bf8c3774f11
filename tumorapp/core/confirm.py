"""Irreversible actions take two steps: a GET page that states what will happen, with the
POST button there, and a POST that is refused without ``confirm=yes``. The second half holds
for scripts too, so automation cannot skip the step silently (the API asks for
``"confirm": true``)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect

FIELD = "confirm"


def confirmed(request) -> bool:
    return request.POST.get(FIELD) == "yes"


def ask_again(request, to: str, *args, **kwargs):
    """The answer to an unconfirmed POST: nothing is done, and the confirmation page says so."""
    messages.error(request, "Nothing was done: confirm on this page first.")
    return redirect(to, *args, **kwargs)
