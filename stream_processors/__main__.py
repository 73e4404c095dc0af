"""``python -m stream_processors worker``: Faust's own command line for the app."""

from core.settings import Settings
from stream_processors.app import create_app

app = create_app(Settings())

if __name__ == "__main__":
    app.main()
