"""The foundation every service stands on: settings, Kafka clients and dead letters, runtime,
control-topic commands, telemetry and the embedded broker. Nothing here imports a service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetcast")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
