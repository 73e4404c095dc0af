"""The Temporal Fusion Transformer behind the worker's ``Forecaster`` interface.

Design choice: **one global model over (server, metric) series**, not one
multi-target model per server. Every metric of every server is its own
series with the metric and the server's profile as static categoricals and
time of day / day of week as known future covariates; each series is
normalised by its own encoder window (``EncoderNormalizer``). Why:

- a server that does not report some metric (a host agent without latency,
  a NAB file with one metric) still gets forecasts for what it does report;
- the model is scale-free, so it forecasts servers and even data sources it
  never saw in training (zero-shot on the AWS CloudWatch series);
- it sees seven times as many training series as a per-server model.
The cost is that cross-metric effects (a leak slowing requests) are learned
only through each metric's own history, and inference runs one sample per
metric; both are acceptable for a fleet-level early warning.
"""
