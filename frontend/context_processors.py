from accounts.roles import CURATOR, TECHNICIAN


def roles(request):
    user = getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)
    return {
        "is_technician": authenticated and user.has_role(TECHNICIAN),
        "is_curator": authenticated and user.has_role(CURATOR),
    }
