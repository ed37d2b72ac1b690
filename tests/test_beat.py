from django.conf import settings

from config.celery import app


def test_every_scheduled_task_exists():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled, "beat has nothing to do"
    assert scheduled - set(app.tasks) == set()


def test_motion_watch_tasks_run_often():
    by_task = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    # Trackers offline: checked every minute; positions never handed off: every few minutes.
    assert by_task["telematics.trackers_offline"] == 60.0
    assert 60.0 <= by_task["telematics.motion_catchup"] <= 600.0
