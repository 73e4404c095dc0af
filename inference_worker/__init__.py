"""The inference worker: context windows in micro-batches, forecasts, risk and alerts out."""
