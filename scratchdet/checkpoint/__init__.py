from .checkpointer import CheckpointError, ScratchCheckpointer
from .handover import hand_over, load_source_state_dict, register_conversion_rule

__all__ = ["CheckpointError", "ScratchCheckpointer", "hand_over", "load_source_state_dict",
           "register_conversion_rule"]
