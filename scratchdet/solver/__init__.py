from .param_groups import build_optimizer, uses_param_groups, vit_param_groups

__all__ = ["build_optimizer", "uses_param_groups", "vit_param_groups"]
