"""REST API of the user's own notifications: list, read one, mark read, mark all read.

Scoped twice: to the user's municipality (``ScopedViewSetMixin``) and to the user as the
recipient, so another municipality's or another user's notification is a 404.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fleet.api_base import ScopedViewSetMixin
from notifications import selectors, services
from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    summary = serializers.SerializerMethodField()
    vehicle_label = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "event_type",
            "summary",
            "event_time",
            "vehicle",
            "vehicle_label",
            "latitude",
            "longitude",
            "facts",
            "suppressed_count",
            "read_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_summary(self, obj: Notification) -> str:
        return selectors.event_summary(obj.event_type, obj.facts)

    def get_vehicle_label(self, obj: Notification) -> str:
        return str(obj.vehicle) if obj.vehicle_id else ""


_Count = inline_serializer("NotificationCount", {"unread": serializers.IntegerField()})
_Marked = inline_serializer("NotificationsMarked", {"marked": serializers.IntegerField()})


class NotificationViewSet(
    ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The user's notifications, newest event first. ``?unread=1``: unread ones only."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    read_capability = "notifications.view"
    # Marking read is the only write; a PATCH or DELETE reaches the object lookup (404 for
    # someone else's notification) and then answers 405.
    write_capability = "notifications.view"
    search_fields: list[str] = []
    ordering_fields = ["event_time"]
    ordering = ["-event_time", "-id"]

    def get_queryset(self):
        rows = super().get_queryset().filter(recipient=self.request.user).select_related("vehicle")
        if self.action == "list" and self.request.query_params.get("unread") == "1":
            rows = rows.filter(read_at__isnull=True)
        return rows

    def http_method_not_allowed(self, request, *args, **kwargs):
        if self.kwargs.get(self.lookup_url_kwarg or self.lookup_field) is not None:
            self.get_object()
        return super().http_method_not_allowed(request, *args, **kwargs)

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        services.notifications_mark_read(user=request.user, ids=[notification.pk])
        notification.refresh_from_db()
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=_Marked)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        return Response({"marked": services.notifications_mark_all_read(user=request.user)})

    @extend_schema(responses=_Count)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return Response({"unread": selectors.unread_count(user=request.user)})
