"""Training and evaluation of forecasts and warning rules on recorded (real) data."""
