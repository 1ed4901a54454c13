"""Position terms are resized when a checkpoint moves across image sizes (the checkpointer's
conversion rule, as every load applies it)."""

import os

import pytest
import torch
from detectron2.modeling import build_backbone

from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.checkpoint.position_resize import resize_abs_pos, resize_rel_pos
from scratchdet.config import load_config_file
from tests.conftest import REPO

CPU_CONFIG = os.path.join(REPO, "projects", "ViTDet-Scratch", "configs", "mask_rcnn_vit_tiny_shapes_cpu.yaml")


def backbone_at(size, *opts):
    cfg = load_config_file(CPU_CONFIG, ["MODEL.VIT.IMG_SIZE", str(size), "MODEL.VIT.PRETRAIN_IMG_SIZE", str(size),
                                        "MODEL.SFP.SQUARE_PAD", str(size), *opts])
    return build_backbone(cfg).eval()


def test_checkpoint_at_64px_loads_at_128px(tmp_path):
    small, large = backbone_at(64), backbone_at(128)
    with torch.no_grad():  # a "trained" checkpoint: non-zero position terms
        for name, p in small.named_parameters():
            if name.endswith(("pos_embed", "rel_pos_h", "rel_pos_w")):
                p.normal_(0, 0.02)
    state = small.state_dict()
    with pytest.raises(RuntimeError, match="size mismatch"):
        large.load_state_dict(state)
    path = tmp_path / "small.pth"
    torch.save({"model": state}, path)
    ScratchCheckpointer(large).load(str(path), checkpointables=[])
    loaded = large.state_dict()
    # 8x8 -> 16x16 grid; global blocks' tables 15 -> 31 rows; window blocks' (4x4) unchanged.
    assert loaded["net.pos_embed"].shape == (1, 256, 96)
    torch.testing.assert_close(loaded["net.pos_embed"], resize_abs_pos(state["net.pos_embed"], loaded["net.pos_embed"]))
    assert loaded["net.blocks.1.attn.rel_pos_h"].shape == (31, 32)
    torch.testing.assert_close(loaded["net.blocks.1.attn.rel_pos_h"], resize_rel_pos(state["net.blocks.1.attn.rel_pos_h"], 31))
    assert torch.equal(loaded["net.blocks.0.attn.rel_pos_h"], state["net.blocks.0.attn.rel_pos_h"])
    assert torch.equal(loaded["net.patch_embed.proj.weight"], state["net.patch_embed.proj.weight"])
    with torch.no_grad():
        out = large(torch.randn(1, 3, 128, 128))
    assert all(torch.isfinite(v).all() for v in out.values())


def test_abs_pos_class_token_and_constant_grid():
    pos = torch.cat([torch.full((1, 1, 4), 7.0), torch.ones(1, 16, 4)], dim=1)  # cls + 4x4
    out = resize_abs_pos(pos, torch.zeros(1, 1 + 64, 4))
    assert out.shape == (1, 65, 4) and torch.equal(out[:, 0], pos[:, 0])
    assert torch.allclose(out[:, 1:], torch.ones(1, 64, 4))
    # no class-token slot in the target: dropped
    assert resize_abs_pos(pos, torch.zeros(1, 36, 4)).shape == (1, 36, 4)


def test_rel_pos_linear_resize():
    table = torch.linspace(-1, 1, 7)[:, None].repeat(1, 3)
    out = resize_rel_pos(table, 15)
    assert out.shape == (15, 3)
    assert torch.all(out[1:, 0] >= out[:-1, 0])  # still increasing
