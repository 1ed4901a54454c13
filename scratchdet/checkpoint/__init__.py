from .checkpointer import CheckpointError, ScratchCheckpointer

__all__ = ["CheckpointError", "ScratchCheckpointer"]
