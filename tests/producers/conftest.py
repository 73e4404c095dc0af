"""Fixtures of this folder's tests."""

from tests.fleetcast.http_stub import http_stub

__all__ = ["http_stub"]
