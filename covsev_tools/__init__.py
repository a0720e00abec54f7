"""covsev: blinded expert scoring of chest X-rays and validation of severity models."""

__version__ = "0.1.0"
