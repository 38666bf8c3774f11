from tumorapp.core.middleware import idle_minutes_for
from tumorapp.core.navigation import navigation_for


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    return {"nav_items": navigation_for(user), "user_role": user.role}


def session_guard(request):
    """The idle limit of the signed-in user, for static/js/session.js (its warning)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"idle_seconds": round(idle_minutes_for(user) * 60)}
