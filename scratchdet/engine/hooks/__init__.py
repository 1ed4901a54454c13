"""Training hooks (one module per hook)."""
