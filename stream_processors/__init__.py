"""The stream processor: a Faust app that turns metric events into 24-hour context windows."""
