from django.conf import settings

from fleet.permissions import CAPABILITIES, has_capability


def kinisi(request) -> dict:
    user = getattr(request, "user", None)
    caps = (
        {name.replace(".", "_"): has_capability(user, name) for name in CAPABILITIES}
        if user
        else {}
    )
    return {
        "caps": caps,
        "current_municipality": getattr(user, "municipality", None) if user else None,
        "tile_url": settings.KINISI_TILE_URL,
    }
