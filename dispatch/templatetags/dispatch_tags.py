"""``{% load dispatch_tags %}{% vehicle_dispatch vehicle %}``: a vehicle's movement orders and
queue, for the vehicle's record page."""

from django import template

from dispatch import selectors

register = template.Library()


@register.inclusion_tag("dispatch/_vehicle_dispatch.html", takes_context=True)
def vehicle_dispatch(context, vehicle) -> dict:
    queue = sorted(
        selectors.queued_jobs(municipality_id=vehicle.municipality_id, vehicle_ids=[vehicle.pk]),
        key=selectors._queue_key,
    )
    return {
        "vehicle": vehicle,
        "orders": list(selectors.vehicle_movement_orders(vehicle=vehicle)[:10]),
        "queue": queue,
        "request": context.get("request"),
    }
