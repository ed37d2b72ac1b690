"""The fleet register's api are in ``register``; fuel and maintenance sit beside it."""
