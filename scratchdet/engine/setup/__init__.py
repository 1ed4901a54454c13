"""The set-up step: every phase resolved and checked once before anything trains (plan.py), the
config checks (checks.py) and the feature names against the backbone (feature_checks.py)."""
