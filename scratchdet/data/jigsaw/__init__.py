"""Jigsaw (Montage) pre-training data: sample extraction, canvas assembly and the mapper."""

from .assembly import (
    CELL_GROUPS,
    GroupSampler,
    assemble_canvas,
    cell_layout,
    cell_object_fill,
    place_in_cell,
)
from .mapper import JigsawMapper
from .sampling import (
    GROUPS,
    JigsawSamples,
    aspect_group,
    build_jigsaw_samples,
    extract_samples,
    object_fill,
)

__all__ = [
    "CELL_GROUPS",
    "GROUPS",
    "GroupSampler",
    "JigsawMapper",
    "JigsawSamples",
    "aspect_group",
    "assemble_canvas",
    "build_jigsaw_samples",
    "cell_layout",
    "cell_object_fill",
    "extract_samples",
    "object_fill",
    "place_in_cell",
]
