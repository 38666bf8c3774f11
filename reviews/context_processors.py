from django.utils.functional import SimpleLazyObject

from reviews.selectors import stalled_adjudications
from tumorapp.accounts.roles import Role


def adjudication_alerts(request):
    """Disagreements nobody is eligible to adjudicate, for admins (queried only if shown)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_role(Role.ADMIN):
        return {}
    return {"stalled_adjudications": SimpleLazyObject(stalled_adjudications)}
