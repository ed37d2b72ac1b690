"""The fleet register's views are in ``register``; fuel and maintenance sit beside it."""
