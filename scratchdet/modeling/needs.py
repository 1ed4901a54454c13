"""What a meta-architecture needs the set-up step to check or fill in its config, declared beside
the model (a ``config_needs`` class attribute) instead of written into config tables on import.

The set-up step (``scratchdet.engine.plan``) reads :func:`config_needs` of the configured
``MODEL.META_ARCHITECTURE``: the keys naming backbone features (checked against the backbone's
outputs) and the key of the number of classes (checked against the training dataset, and filled
from it where 0 means "from the data"). detectron2's own meta-architectures are declared here.
"""

from __future__ import annotations

from dataclasses import dataclass

from detectron2.config import CfgNode
from detectron2.modeling import META_ARCH_REGISTRY

from ..config.feature_checks import FeatureUse


@dataclass(frozen=True)
class ConfigNeeds:
    """Args:
        feature_uses: config keys listing backbone features a head reads.
        num_classes_key: the key of the number of classes the model predicts (None: it predicts no
            dataset classes, e.g. MAE's reconstruction).
        classes_from_data: a 0 in ``num_classes_key`` means the training dataset's number of
            classes (the set-up step writes it in).
    """

    feature_uses: tuple[FeatureUse, ...] = ()
    num_classes_key: str | None = None
    classes_from_data: bool = False


def _uses_rpn(cfg: CfgNode) -> bool:
    return cfg.MODEL.PROPOSAL_GENERATOR.NAME in ("RPN", "RRPN")


_RPN = FeatureUse("MODEL.RPN.IN_FEATURES", anchors=True, when=_uses_rpn)
_ROI = FeatureUse("MODEL.ROI_HEADS.IN_FEATURES", top_levels=False, pyramid=True)
_SEM_SEG = FeatureUse("MODEL.SEM_SEG_HEAD.IN_FEATURES", top_levels=False)
ROI_CLASSES = "MODEL.ROI_HEADS.NUM_CLASSES"

# detectron2's meta-architectures, which scratchdet cannot annotate.
DETECTRON2_NEEDS: dict[str, ConfigNeeds] = {
    "GeneralizedRCNN": ConfigNeeds((_RPN, _ROI), ROI_CLASSES),
    "ProposalNetwork": ConfigNeeds((_RPN,)),
    "RetinaNet": ConfigNeeds((FeatureUse("MODEL.RETINANET.IN_FEATURES", anchors=True),), "MODEL.RETINANET.NUM_CLASSES"),
    "PanopticFPN": ConfigNeeds((_RPN, _ROI, _SEM_SEG), ROI_CLASSES),
    "SemanticSegmentor": ConfigNeeds((_SEM_SEG,)),
}


def config_needs(cfg: CfgNode) -> ConfigNeeds:
    """The declaration of ``cfg.MODEL.META_ARCHITECTURE`` (empty for an unknown or undeclared one:
    nothing is checked for it)."""
    name = cfg.MODEL.META_ARCHITECTURE
    if name in DETECTRON2_NEEDS:
        return DETECTRON2_NEEDS[name]
    if name not in META_ARCH_REGISTRY:
        return ConfigNeeds()
    needs = getattr(META_ARCH_REGISTRY.get(name), "config_needs", None)
    # Anything else under that name (e.g. a user's method called config_needs) declares nothing.
    return needs if isinstance(needs, ConfigNeeds) else ConfigNeeds()
