"""``python -m producers``: run the producer service with settings from the environment."""

from producers.service import main

main()
