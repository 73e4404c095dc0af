"""Alert destinations: ``fleetcast alerts --forward webhook|alertmanager --url URL``.

External consumers of ``fleetcast.alerts`` (the documented contract): each alert
event is posted, retried with exponential backoff, and its offset committed only
once it is delivered or, after giving up, dead-lettered with the reason.
``payloads`` maps alert events onto each destination's format (pure),
``delivery`` posts with retries, ``service`` is the consumer loop.
"""
