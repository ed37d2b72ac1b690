"""WebSocket routes of dispatch (config/asgi.py collects ``websocket_urlpatterns``)."""

from django.urls import path

from dispatch.consumers import BoardConsumer

websocket_urlpatterns = [
    path("ws/dispatch/board/", BoardConsumer.as_asgi()),
]
