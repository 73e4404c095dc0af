"""The model-insight view explains the model's forecast in the model's own inputs and units."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference_worker.factories import make_window
from ui.insight import explain


@pytest.mark.parametrize("model", ["loaded", "loaded_day"])
def test_explain_reads_any_shipped_model_s_inputs(model: str, request: pytest.FixtureRequest):
    loaded = request.getfixturevalue(model)  # loaded_day: yesterday and log1p inputs
    window = make_window("ppdb001", noise=1.0, seed=4)

    explanation = explain(loaded, window, "net_in_mbps")

    assert explanation.server_id == "ppdb001" and explanation.metric == "net_in_mbps"
    assert sum(explanation.encoder.values()) == pytest.approx(1.0)
    assert sum(explanation.decoder.values()) == pytest.approx(1.0)
    assert ("yesterday" in explanation.decoder) == loaded.config.yesterday
    assert len(explanation.attention) == len(explanation.values) == len(explanation.attention_times)
    assert np.isclose(sum(explanation.attention), 1.0)
