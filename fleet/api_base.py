"""Building blocks for every app's API: municipality scoping and one error format."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from fleet.scoping import scope_queryset

log = logging.getLogger("kinisi.api")


def exception_handler(exc, context):
    """Model and service validation errors become 400 with a message per field."""
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code >= 400:
        request = context.get("request")
        log.info(
            "api.request_rejected status=%s path=%s user=%s reason=%s",
            response.status_code,
            getattr(request, "path", "?"),
            getattr(getattr(request, "user", None), "pk", None),
            type(exc).__name__,
        )
    return response


class ScopedViewSetMixin:
    """Limits a viewset to the user's municipality: another municipality's object is a 404."""

    scope_field = "municipality"

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user, self.scope_field)


class ScopedModelViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    pass


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key whose choices are limited to the requesting user's municipality."""

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset.none()
        return scope_queryset(queryset, request.user)
