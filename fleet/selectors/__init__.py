"""The fleet register's selectors are in ``register``; fuel and maintenance sit beside it."""
