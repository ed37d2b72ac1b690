"""The fleet simulator: demo vehicles driving real streets and reporting over real protocols.

``motion`` is pure (the model), ``transport`` speaks the tracker protocols over sockets (no
Django), ``provision`` is the Django side (devices for the simulated vehicles).
"""
