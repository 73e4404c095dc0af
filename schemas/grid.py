"""fleetcast's time grid, shared by every service: 5-minute steps, a 24 h context, an 8 h horizon.

The one place these numbers are written; settings, the stream processor, the worker, the model,
the dashboard and the evaluation take them from here.
"""

from typing import Final

#: A step is ``[s, s + STEP_SECONDS)`` with ``s`` a multiple of five minutes since midnight UTC.
STEP_SECONDS: Final = 300
#: Steps in a day: the seasonal period of the baselines and the MASE scale.
STEPS_PER_DAY: Final = 24 * 3600 // STEP_SECONDS
#: The context window the stream processor keeps per server: 24 h.
CONTEXT_STEPS: Final = STEPS_PER_DAY
#: The forecast horizon: 8 h.
HORIZON_STEPS: Final = 8 * 3600 // STEP_SECONDS
