"""The Faust app gets the same SASL/TLS settings as every confluent-kafka client."""

from __future__ import annotations

import faust

from core.settings import Settings
from stream_processors.app import _credentials


def test_sasl_settings_reach_faust():
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                        kafka_sasl_username="fleetcast", kafka_sasl_password="s3cret")
    credentials = _credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "fleetcast" and credentials.password == "s3cret"
    assert str(credentials.mechanism).upper().endswith("PLAIN")
    assert settings.kafka_security()["sasl.username"] == "fleetcast"


def test_plaintext_means_no_credentials():
    assert _credentials(Settings()) is None
