"""Real metric sources: this host (psutil) and node_exporter pages, published as metric events.

``mapping`` holds the pure rules from raw counters to the schema, ``host`` and
``prometheus`` read the raw counters, ``publishing`` is the loop that puts the
events on ``fleetcast.metrics`` through the simulator's publisher.
"""
