"""Parts of DEYO's stage-2 end-to-end detector (query selection, deformable decoder, one-to-one
matching and losses); the meta-architecture is scratchdet.modeling.meta_arch.deyo."""

from .decoder import DecoderLayer, DeformableDecoder
from .deformable_attention import MSDeformAttn, ms_deform_attn_core
from .denoising import DenoisingGroup, DenoisingQueries
from .losses import DEYOCriterion, varifocal_loss
from .matcher import HungarianMatcher
from .query_selection import (
    InputProjection,
    QuerySelection,
    SelectedQueries,
    valid_positions,
)
from .stage1_boxes import STAGE1_ARCHS, Stage1BoxBranch

__all__ = [
    "DEYOCriterion",
    "DecoderLayer",
    "DeformableDecoder",
    "DenoisingGroup",
    "DenoisingQueries",
    "HungarianMatcher",
    "InputProjection",
    "MSDeformAttn",
    "QuerySelection",
    "STAGE1_ARCHS",
    "SelectedQueries",
    "Stage1BoxBranch",
    "ms_deform_attn_core",
    "valid_positions",
    "varifocal_loss",
]
