"""The tracker gateway: asyncio servers per tracker protocol, batched writes, acks after commit.

This package is the only place in Kinisi that touches tracker sockets. Its core (everything but
``django_glue``) does not import Django, so the benchmark and the fault tests can run it as a
plain process; ``manage.py run_gateway`` builds a :class:`GatewayConfig` from the settings.
"""

from telematics.gateway.config import GatewayConfig

__all__ = ["GatewayConfig"]
