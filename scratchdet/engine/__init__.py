from .hook_registry import HOOK_REGISTRY, build_hooks_from_config

__all__ = ["HOOK_REGISTRY", "build_hooks_from_config"]
