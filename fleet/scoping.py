"""Every row that belongs to a municipality is read through these, so a user of one municipality
never sees another's data: the object simply does not exist for them (404)."""

from django.db.models import QuerySet


def scope_queryset(queryset: QuerySet, user, field: str = "municipality") -> QuerySet:
    if getattr(user, "is_superuser", False) and user.municipality_id is None:
        return queryset
    municipality_id = getattr(user, "municipality_id", None)
    if municipality_id is None:
        return queryset.none()
    if field == "self":
        return queryset.filter(pk=municipality_id)
    return queryset.filter(**{f"{field}_id": municipality_id})


class ScopedQuerysetMixin:
    """For page views: ``get_queryset`` filtered to the user's municipality."""

    scope_field = "municipality"

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user, self.scope_field)
