from django.utils.functional import SimpleLazyObject

from tumorapp.accounts.roles import Role
from tumorapp.quality.selectors import open_alerts


def quality_alerts(request):
    """Open quality alerts for the people who act on them (queried only if a page shows it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_role(Role.ADMIN, Role.DATA_TEAM):
        return {}
    return {"quality_alerts": SimpleLazyObject(open_alerts)}
