"""MAE pre-training then ViTDet fine-tuning in one command: the encoder is handed to the
detector's ViT, the decoder is dropped, the reconstructions PNG is written."""

import json
import os

import torch

from tests.conftest import REPO, run_train_net

CONFIG = f"{REPO}/projects/MAEPretrain/configs/mae_then_mask_rcnn_vit_tiny_shapes_cpu.yaml"
TINY = [
    "MODEL.VIT.IMG_SIZE", "64", "MODEL.VIT.PRETRAIN_IMG_SIZE", "64", "MODEL.SFP.SQUARE_PAD", "64",
    "SCRATCHDET.AUG.LSJ.IMAGE_SIZE", "64", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "64",
    "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "SOLVER.WARMUP_ITERS", "1", "SCRATCHDET.VIS.NUM_IMAGES", "0",
    "SCRATCHDET.PHASE1.SCRATCHDET.MAE.IMAGE_SIZE", "64", "SCRATCHDET.PHASE1.SOLVER.IMS_PER_BATCH", "4",
    "SCRATCHDET.PHASE1.SOLVER.WARMUP_ITERS", "1", "SCRATCHDET.PHASE1.SCRATCHDET.MAE.VIS_NUM_IMAGES", "2",
]


def test_mae_then_vitdet_one_command(tmp_path):
    out = str(tmp_path / "run")
    run_train_net(["--config-file", CONFIG, *TINY, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "3", "SOLVER.MAX_ITER", "2",
                   "DATASETS.TEST", "()", "OUTPUT_DIR", out])
    assert os.path.isfile(f"{out}/phase1/mae_reconstructions.png")
    report = json.load(open(f"{out}/phase2/handover.json"))
    copied = set(report["copied"])
    assert "backbone.net.patch_embed.proj.weight" in copied and "backbone.net.blocks.3.mlp.fc2.weight" in copied
    reinit = {k for k, _ in report["reinitialized"]}
    assert any("rel_pos" in k for k in reinit) and not any(k.startswith("backbone.net.blocks") and "rel_pos" not in k
                                                          for k in reinit)
    assert any(k.startswith("decoder") for k in report["unused"]) and "mask_token" in report["unused"]
    # The detector's ViT started from phase 1's encoder (a tensor phase 2 does not train: none;
    # so compare the first block's weights before phase 2's few steps moved them, within their size).
    p1 = torch.load(f"{out}/phase1/model_final.pth", map_location="cpu", weights_only=True)["model"]
    p2 = torch.load(f"{out}/phase2/model_final.pth", map_location="cpu", weights_only=True)["model"]
    a, b = p1["encoder.blocks.0.attn.qkv.weight"], p2["backbone.net.blocks.0.attn.qkv.weight"]
    assert (a - b).abs().max() < 0.1 * a.abs().max()
