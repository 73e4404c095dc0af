"""The fleet simulator and the producer service that puts its metrics on Kafka.

``producers.simulator`` is pure (no Kafka, no clock); ``producers.service.run``
wires it to the broker.
"""

from producers.fleet import default_fleet
from producers.simulator import FleetSimulator

__all__ = ["FleetSimulator", "default_fleet"]
