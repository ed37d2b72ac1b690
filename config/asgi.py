"""ASGI entry point: HTTP through Django, WebSocket through Channels.

Apps add their WebSocket routes to ``websocket_urlpatterns`` in ``<app>/routing_ws.py``.
"""

import importlib
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402


def _websocket_routes() -> list:
    routes: list = []
    for app in ("telematics", "dispatch"):
        try:
            module = importlib.import_module(f"{app}.routing_ws")
        except ModuleNotFoundError:
            continue
        routes.extend(module.websocket_urlpatterns)
    return routes


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(_websocket_routes()))
        ),
    }
)
