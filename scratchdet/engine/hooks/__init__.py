"""Training hooks (one module per hook), the registry of those a config adds by name
(SCRATCHDET.HOOKS), and metrics.json reading and loss-curve drawing."""
