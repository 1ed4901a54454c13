from .checkpointer import ScratchCheckpointer
from .conversion import match_state_dict, register_conversion_rule
from .errors import CheckpointError, CheckpointMismatchError
from .safe_load import ALLOW_PICKLE_KEY, load_checkpoint_file

__all__ = ["ALLOW_PICKLE_KEY", "CheckpointError", "CheckpointMismatchError", "ScratchCheckpointer", "load_checkpoint_file",
           "match_state_dict", "register_conversion_rule"]
