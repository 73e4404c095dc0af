"""fleetcast's composition root: the CLI, ``fleetcast up`` and every benchmark.

It is the only package that imports the services; nothing imports it.
"""

from core import __version__

__all__ = ["__version__"]
