from .defaults import add_scratchdet_config
from .errors import ConfigError
from .loading import get_scratchdet_cfg, load_config_file

__all__ = ["add_scratchdet_config", "ConfigError", "get_scratchdet_cfg", "load_config_file"]
