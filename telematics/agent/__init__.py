"""``kinisi-agent``: the in-vehicle agent that reads gpsd and forwards fixes to Kinisi.

Runs on a small computer in the vehicle next to gpsd. Three parts, each testable on its own:

* :mod:`.gpsd_adapter` polls gpsd through gpsd-py3 (the only module that imports ``gpsd``) and
  turns what it reports into :class:`.fix.AgentFix` records, smoothing over the library's quirks;
* :mod:`.fix_queue` is the store-and-forward queue: a SQLite file (WAL) that survives a crash or
  a reboot of the agent, bounded in size (the oldest fixes go first when it is full);
* :mod:`.sender` sends the queued fixes in order to the gateway, as OsmAnd form posts or JSON
  batches, and deletes each only once the server answered HTTP 200; it retries with exponential
  backoff and jitter while the server cannot be reached.

:mod:`.runner` ties them together in two threads (gpsd → queue, queue → server) and :mod:`.cli`
is the console script. This package never imports Django: it ships to the vehicle on its own.
"""
