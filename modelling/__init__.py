"""Honest evaluation of forecasts: scale-free metrics, baselines, rolling-origin backtest, report.

- ``metrics``: MASE, scaled pinball loss and p10-p90 coverage (pure numpy).
- ``baselines``: the ``Model`` interface (one series in, p10/p50/p90 out) and the baselines any
  learned model must beat: last value, seasonal naive, linear trend, ETS (statsmodels).
- ``backtest``: rolling origins over the last 30 % of every series, scores per model, per metric.
- ``report``: ``report.json`` and ``report.md`` with forecast-fan plots.
- ``nab``: the real AWS CloudWatch series of the NAB corpus and fleetcast metric-event files.

``python -m modelling --help`` runs the baselines on the NAB series.
"""
