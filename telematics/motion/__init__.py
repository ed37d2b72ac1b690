"""Motion: from a device's time-ordered fixes to trips, stops, distances, events and summaries.

Pure package: nothing here imports Django. The Celery tasks load positions, call
:func:`telematics.motion.pipeline.motion_update` through a store adapter and save what it returns.
"""
