"""Fixtures of this folder's tests."""

from tests.http_stub import http_stub

__all__ = ["http_stub"]
