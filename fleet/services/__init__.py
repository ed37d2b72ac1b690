"""The fleet register's services are in ``register``; fuel and maintenance sit beside it."""
