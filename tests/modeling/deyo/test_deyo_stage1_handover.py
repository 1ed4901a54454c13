"""DEYO's stage 2 on a real stage-1 checkpoint: the frozen parts (backbone, neck, stage 1's box
branch; weights and BN statistics) are bit-identical to the checkpoint file after stage-2
training steps, even with BN re-estimation asked for, and the queries' first reference boxes are
stage 1's own decoded boxes at the selected positions, computed here with stage 1's model."""

import os

import pytest
import torch
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
from detectron2.utils.events import EventStorage
from torchvision.ops import box_convert

from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.config import load_config_file
from scratchdet.engine import Trainer
from scratchdet.engine.run.phases import phase1_config
from scratchdet.engine.train.precise_bn import reestimate_bn_stats

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CONFIG = os.path.join(REPO, "projects", "DEYO", "configs", "deyo_two_stage_R18_FPN_shapes_cpu.yaml")
TINY = [
    "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.RETINANET.NUM_CONVS", "2", "SCRATCHDET.DEYO.HIDDEN_DIM", "32",
    "SCRATCHDET.DEYO.NUM_HEADS", "4", "SCRATCHDET.DEYO.DIM_FEEDFORWARD", "64", "SCRATCHDET.DEYO.NUM_QUERIES", "20",
    "TEST.DETECTIONS_PER_IMAGE", "10", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0",
    "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "128",
]


def _cfg(arch, out, *opts):
    return load_config_file(CONFIG, [*TINY, "SCRATCHDET.PHASE1.MODEL.META_ARCHITECTURE", arch,
                                     "SCRATCHDET.DEYO.STAGE1_ARCH", arch, "OUTPUT_DIR", str(out), *opts])


def _batch(cfg, n=2, start=0):
    mapper = DatasetMapper(cfg, is_train=True, augmentations=[])
    return [mapper(d) for d in DatasetCatalog.get("shapes_train")[start:start + n]]


def _train(model, optimizer, batch, steps):
    model.train()
    with EventStorage():
        for _ in range(steps):
            loss = sum(model(batch).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def _stage1_checkpoint(cfg, tmp_path):
    """A stage-1 model trained a few steps (so that its BN statistics are its own), saved to a file."""
    torch.manual_seed(0)
    p1 = phase1_config(cfg)
    model = Trainer.build_model(p1)
    _train(model, Trainer.build_optimizer(p1, model), _batch(p1), 3)
    path = os.path.join(tmp_path, "stage1.pth")
    torch.save({"model": model.state_dict()}, path)
    return model.eval(), path


def _stage2_model(cfg, path):
    """Stage 2's model once stage 1's checkpoint arrives by MODEL.WEIGHTS, as the trainer does it:
    the one loading path, then BN re-estimation (SCRATCHDET.HANDOVER.PRECISE_BN_ITERS batches)."""
    model = Trainer.build_model(cfg)
    ScratchCheckpointer.from_config(cfg, model, save_dir="").load(path, checkpointables=[])
    iters = cfg.SCRATCHDET.HANDOVER.PRECISE_BN_ITERS
    reestimate_bn_stats(model, [_batch(cfg, start=6)] * iters, iters)
    return model


@pytest.mark.parametrize("arch", ["RetinaNet", "FCOS"])
def test_frozen_parts_are_bit_identical_to_stage1_checkpoint_after_stage2_steps(arch, tmp_path):
    # PRECISE_BN_ITERS > 0 on purpose: re-estimation must leave the frozen layers alone.
    cfg = _cfg(arch, tmp_path, "SCRATCHDET.HANDOVER.PRECISE_BN_ITERS", "2")
    _, path = _stage1_checkpoint(cfg, tmp_path)
    torch.manual_seed(1)
    model = _stage2_model(cfg, path)
    decoder_before = model.decoder.class_heads[-1].weight.detach().clone()
    _train(model, Trainer.build_optimizer(cfg, model), _batch(cfg, start=4), 3)

    saved = torch.load(path, map_location="cpu", weights_only=True)["model"]
    state = model.state_dict()
    frozen = [k for k in state if k.startswith(("backbone.", "head."))]
    # Every tensor of the backbone, neck and box branch, and every BN statistic among them.
    assert any(k.startswith("head.bbox_subnet.") and "running_var" in k for k in frozen)
    assert any(k.startswith("backbone.fpn_") and "running_mean" in k for k in frozen)
    assert isinstance(model.backbone.bottom_up.stem.conv1.norm, FrozenBatchNorm2d)
    changed = [k for k in frozen if not torch.equal(state[k], saved[k])]
    assert not changed, changed
    # ... while the decoder did train.
    assert not torch.equal(decoder_before, model.decoder.class_heads[-1].weight)


def _stage1_boxes(stage1, images):
    """Stage 1's decoded boxes at every position of every level (and anchor), with stage 1's
    own model: normalised (cx, cy, w, h) in the padded image, in memory order."""
    with torch.no_grad():
        feats = stage1.backbone(images.tensor)
        feats = [feats[f] for f in stage1.head_in_features]
        preds = stage1.head(feats)[1]
        anchors = stage1.anchor_generator(feats)
    h, w = images.tensor.shape[-2:]
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    out = []
    for lvl in range(3):  # the decoder reads p3-p5, the head's first three levels
        deltas = permute_to_N_HWA_K(preds[lvl], 4)
        boxes = torch.stack([stage1.box2box_transform.apply_deltas(d, anchors[lvl].tensor) for d in deltas])
        boxes = torch.minimum(boxes.clamp(min=0), scale) / scale
        out.append(box_convert(boxes, "xyxy", "cxcywh"))
    return torch.cat(out, 1)


@pytest.mark.parametrize("arch", ["RetinaNet", "FCOS"])
def test_first_reference_boxes_are_stage1_decoded_boxes_at_selected_positions(arch, tmp_path):
    cfg = _cfg(arch, tmp_path, "SCRATCHDET.HANDOVER.PRECISE_BN_ITERS", "0")
    stage1, path = _stage1_checkpoint(cfg, tmp_path)
    model = _stage2_model(cfg, path).eval()
    captured = {}
    model.query_selection.register_forward_hook(lambda m, i, o: captured.update(selected=o))
    model.decoder.register_forward_pre_hook(lambda m, args: captured.update(decoder_ref=args[1]))
    batch = _batch(cfg)
    with torch.no_grad():
        model(batch)
    images = model.preprocess_image(batch)
    expected = _stage1_boxes(stage1, images)
    selected = captured["selected"]
    want = torch.gather(expected, 1, selected.indices[..., None].expand(-1, -1, 4))
    torch.testing.assert_close(selected.reference_boxes, want)
    torch.testing.assert_close(captured["decoder_ref"], want)
    # The boxes are stage 1's, not a degenerate constant: they differ between queries.
    assert want.std(dim=1).min() > 0
