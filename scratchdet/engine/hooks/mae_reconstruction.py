"""OUTPUT_DIR/mae_reconstructions.png: what a masked autoencoder sees and rebuilds."""

from __future__ import annotations

import logging
import os

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.engine import HookBase
from detectron2.utils import comm
from torch import nn

from ...data import build_mapper
from ...io.atomic import atomic_open
from .registry import HOOK_REGISTRY


def draw_mae_reconstructions(cfg: CfgNode, model: nn.Module, dataset_name: str, path: str, num_images: int,
                             seed: int = 0) -> str:
    """Rows of original / masked / reconstruction for the first ``num_images`` images of
    ``dataset_name``, through the test mapper (central crop); the mask is drawn from ``seed``."""
    import matplotlib  # here, not at import: importing scratchdet should not load matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mapper = build_mapper(cfg, is_train=False)
    inputs = [mapper(d) for d in DatasetCatalog.get(dataset_name)[:num_images]]
    was_training = model.training
    model.eval()
    try:
        out = model.reconstruct(inputs, seed=seed)
    finally:
        model.train(was_training)
    bgr = cfg.INPUT.FORMAT == "BGR"
    cols = ("original", "masked", "reconstruction")
    fig, axes = plt.subplots(len(inputs), 3, figsize=(7.5, 2.5 * len(inputs)), squeeze=False)
    for i in range(len(inputs)):
        for j, key in enumerate(cols):
            img = out[key][i].permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy()
            axes[i, j].imshow(img[..., ::-1] if bgr else img)
            axes[i, j].set_axis_off()
            if i == 0:
                title = key if key != "masked" else f"masked ({float(out['mask'][i].mean()):.0%} removed)"
                axes[i, j].set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path


@HOOK_REGISTRY.register()
class MAEReconstructionPNG(HookBase):
    """After training, draw SCRATCHDET.MAE.VIS_NUM_IMAGES images of DATASETS.TRAIN[0] as
    original / masked / reconstruction in OUTPUT_DIR/mae_reconstructions.png (main process)."""

    def __init__(self, cfg: CfgNode):
        self._cfg = cfg

    def after_train(self) -> None:
        cfg = self._cfg
        if not comm.is_main_process() or cfg.SCRATCHDET.MAE.VIS_NUM_IMAGES <= 0:
            return
        if self.trainer.iter + 1 < self.trainer.max_iter:
            return  # only a finished training is drawn
        model = getattr(self.trainer.model, "module", self.trainer.model)
        out = draw_mae_reconstructions(cfg, model, cfg.DATASETS.TRAIN[0],
                                       os.path.join(cfg.OUTPUT_DIR, "mae_reconstructions.png"),
                                       cfg.SCRATCHDET.MAE.VIS_NUM_IMAGES)
        logging.getLogger(__name__).info(f"MAE reconstructions drawn in {out}")

