"""ViTDet's plain backbone (Li et al. 2022) from yacs keys: a ViT with window attention in most
blocks, a few global blocks, relative position terms and drop-path, and a simple feature pyramid
built from its last map. Selected by ``MODEL.BACKBONE.NAME build_vit_sfp_backbone``.

It reuses detectron2's ``ViT`` and ``SimpleFeaturePyramid`` (forward, init, parameter names,
hence checkpoints and ``get_vit_lr_decay_rate``), and fixes what stops them working from a
yacs config on any input:

- detectron2's pyramid declares its size divisibility under a misspelt key
  (``"size_divisiblity"``) and leaves ``size_divisibility`` at 0, so the meta-architecture never
  pads: inputs that are not multiples of the patch size lose their border pixels, and the
  max-pooled levels (0.5 scale, top block) get sizes that disagree with their strides. Here the
  batch is padded to a multiple of the largest output stride (top block included), optionally
  of the window grid too (``MODEL.SFP.PAD_TO_WINDOW``), and ``forward`` pads direct calls alike.
- detectron2's ``Block`` imports timm (not a dependency here) and its ``ViT`` computes the
  drop-path rates with ``tensor.item()``, which fails on the meta device the config checks build
  on: the subclasses below build the same modules without either.
- detectron2's square padding (``square_pad``, ViTDet's 1024 with LSJ) silently crops inputs
  larger than the square (``ImageList.from_tensors`` pads with a negative amount): here the
  pyramid pads to the square itself and pads larger inputs to their own size.

Position terms trained at one image size are resized for another when a checkpoint is loaded
(``scratchdet.checkpoint.position_resize``, through the checkpointer's conversions).
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, SimpleFeaturePyramid, ViT
from detectron2.modeling.backbone import Backbone
from detectron2.modeling.backbone.utils import PatchEmbed
from detectron2.modeling.backbone.vit import Attention, Block, ResBottleneckBlock
from torch import Tensor, nn
from torchvision.ops import StochasticDepth

from scratchdet.config.checks import GN_GROUPS
from scratchdet.config.errors import raise_config_errors

from .fpn_top_blocks import LastLevelMaxPools

__all__ = ["PaddedSimpleFeaturePyramid", "PlainViT", "build_plain_vit", "build_vit_sfp_backbone", "vit_sfp_config_errors"]

SCALE_FACTORS = (4.0, 2.0, 1.0, 0.5)  # what detectron2's SimpleFeaturePyramid implements
TOP_BLOCKS = ("maxpool", "")
_VIT_LN = partial(nn.LayerNorm, eps=1e-6)  # ViTDet's


class _Mlp(nn.Module):
    """timm's ``Mlp`` (same parameter names fc1/fc2, so ViTDet checkpoints load), without timm."""

    def __init__(self, dim: int, hidden: int, act_layer: type[nn.Module] = nn.GELU):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(Block):
    """detectron2's ViT ``Block`` (its forward), built without timm: drop-path is torchvision's
    ``StochasticDepth(mode="row")``, timm's ``DropPath``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float,
                 norm_layer, act_layer, use_rel_pos: bool, rel_pos_zero_init: bool, window_size: int,
                 use_residual_block: bool, input_size: tuple[int, int]):
        nn.Module.__init__(self)
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim, num_heads=num_heads, qkv_bias=qkv_bias, use_rel_pos=use_rel_pos,
            rel_pos_zero_init=rel_pos_zero_init,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.drop_path = StochasticDepth(drop_path, "row") if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), act_layer)
        self.window_size = window_size
        self.use_residual_block = use_residual_block
        if use_residual_block:
            self.residual = ResBottleneckBlock(dim, dim, dim // 2, norm="LN", act_layer=act_layer)


class PlainViT(ViT):
    """detectron2's ``ViT`` (same forward, init and state-dict keys) built with :class:`_Block`.

    Args are detectron2's ``ViT``'s (activation checkpointing aside). One output,
    ``out_feature``, of ``embed_dim`` channels at stride ``patch_size``.
    """

    def __init__(self, *, img_size: int = 1024, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path_rate: float = 0.0,
                 norm_layer=_VIT_LN, act_layer=nn.GELU,
                 use_abs_pos: bool = True, use_rel_pos: bool = True, rel_pos_zero_init: bool = True,
                 window_size: int = 0, window_block_indexes=(), residual_block_indexes=(),
                 pretrain_img_size: int = 224, pretrain_use_cls_token: bool = True,
                 out_feature: str = "last_feat"):
        Backbone.__init__(self)
        self.pretrain_use_cls_token = pretrain_use_cls_token
        self.patch_size = patch_size
        self.window_size = window_size if window_block_indexes else 0
        self.patch_embed = PatchEmbed(kernel_size=(patch_size, patch_size), stride=(patch_size, patch_size),
                                      in_chans=in_chans, embed_dim=embed_dim)
        if use_abs_pos:
            num_patches = (pretrain_img_size // patch_size) ** 2
            self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + int(pretrain_use_cls_token), embed_dim))
        else:
            self.pos_embed = None
        # torch.linspace(0, rate, depth), in Python: .item() fails on the meta device.
        dpr = [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        tokens = img_size // patch_size
        self.blocks = nn.ModuleList(
            _Block(embed_dim, num_heads, mlp_ratio, qkv_bias, dpr[i], norm_layer, act_layer, use_rel_pos,
                   rel_pos_zero_init, window_size if i in window_block_indexes else 0,
                   i in residual_block_indexes, (tokens, tokens))
            for i in range(depth)
        )
        self._out_feature_channels = {out_feature: embed_dim}
        self._out_feature_strides = {out_feature: patch_size}
        self._out_features = [out_feature]
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.apply(self._init_weights)


class PaddedSimpleFeaturePyramid(SimpleFeaturePyramid):
    """detectron2's ``SimpleFeaturePyramid`` whose size divisibility is declared (so that the
    meta-architecture pads each batch to it) and enforced: ``forward`` pads its input at the
    bottom/right (box coordinates unchanged) to a multiple of it, and to at least ``square_pad``
    on each side, never cropping.

    Args:
        pad_multiple: inputs are also padded to a multiple of this (e.g. patch x window size).
        Others as detectron2's ``SimpleFeaturePyramid``.
    """

    def __init__(self, net: Backbone, in_feature: str, out_channels: int, scale_factors,
                 top_block: nn.Module | None = None, norm: str = "LN", square_pad: int = 0,
                 pad_multiple: int = 1):
        super().__init__(net, in_feature, out_channels, scale_factors, top_block, norm, square_pad)
        # The largest stride, top block included (detectron2 takes the last pyramid level's).
        largest = max(self._out_feature_strides.values())
        self._size_divisibility = largest * pad_multiple // math.gcd(largest, pad_multiple)

    @property
    def size_divisibility(self) -> int:
        return self._size_divisibility

    @property
    def padding_constraints(self) -> dict[str, int]:
        # No "square_size": ImageList.from_tensors would crop inputs larger than the square
        # (a negative pad); forward pads to the square instead.
        return {"size_divisibility": self._size_divisibility}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        d, square = self._size_divisibility, self._square_pad
        h, w = x.shape[-2:]
        pad_h = -max(h, square) % d + max(square - h, 0)
        pad_w = -max(w, square) % d + max(square - w, 0)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return super().forward(x)


def vit_sfp_config_errors(cfg: CfgNode) -> list[str]:
    """Messages for MODEL.VIT / MODEL.SFP values the backbone cannot be built with."""
    v, s = cfg.MODEL.VIT, cfg.MODEL.SFP
    errors = []
    if v.EMBED_DIM % v.NUM_HEADS:
        errors.append(f"MODEL.VIT.EMBED_DIM={v.EMBED_DIM} is not divisible by MODEL.VIT.NUM_HEADS={v.NUM_HEADS}.")
    for key in ("GLOBAL_BLOCK_INDEXES", "RESIDUAL_BLOCK_INDEXES"):
        bad = [i for i in v[key] if not 0 <= i < v.DEPTH]
        if bad:
            errors.append(f"MODEL.VIT.{key} has {bad}, outside the {v.DEPTH} blocks (MODEL.VIT.DEPTH).")
    if v.WINDOW_SIZE <= 0 and len(set(v.GLOBAL_BLOCK_INDEXES)) < v.DEPTH:
        errors.append(f"MODEL.VIT.WINDOW_SIZE={v.WINDOW_SIZE}: window blocks need a positive window size "
                      f"(or list every block in MODEL.VIT.GLOBAL_BLOCK_INDEXES).")
    factors = [float(f) for f in s.SCALE_FACTORS]
    if (not factors or any(f not in SCALE_FACTORS for f in factors)
            or any(b != a / 2 for a, b in itertools.pairwise(factors))):
        errors.append(f"MODEL.SFP.SCALE_FACTORS={tuple(s.SCALE_FACTORS)}: use consecutive factors of 2 from "
                      f"high to low resolution, from {SCALE_FACTORS}, e.g. (4.0, 2.0, 1.0, 0.5).")
    if s.IN_FEATURE != v.OUT_FEATURE:
        errors.append(f"MODEL.SFP.IN_FEATURE={s.IN_FEATURE!r} but the ViT outputs {v.OUT_FEATURE!r} "
                      f"(MODEL.VIT.OUT_FEATURE): set MODEL.SFP.IN_FEATURE {v.OUT_FEATURE}.")
    if s.TOP_BLOCK not in TOP_BLOCKS:
        errors.append(f"MODEL.SFP.TOP_BLOCK={s.TOP_BLOCK!r}: use 'maxpool' or ''.")
    if s.NORM == "GN":
        # The 4x level normalises EMBED_DIM / 2 channels between its two deconvs.
        for ch, key in [(s.OUT_CHANNELS, "MODEL.SFP.OUT_CHANNELS")] + (
                [(v.EMBED_DIM // 2, "MODEL.VIT.EMBED_DIM / 2")] if 4.0 in factors else []):
            if ch % GN_GROUPS:
                errors.append(f"MODEL.SFP.NORM='GN' normalises {ch} channels ({key}), not divisible by "
                              f"GroupNorm's {GN_GROUPS} groups: use 'LN' or a multiple of {GN_GROUPS}.")
    return errors


def build_plain_vit(cfg: CfgNode, in_chans: int, token_sequence: bool = False) -> PlainViT:
    """The ViT of ``MODEL.VIT.*``. ``token_sequence=True`` builds it for a sequence of tokens
    without a grid (masked-image pre-training keeps only the visible tokens): every block
    attends globally and there are neither relative position terms nor conv residual blocks, the
    parts that need the grid. Its other weights have the same names and shapes as the grid
    ViT's, so they are handed over to it; the relative position terms then start from their
    (zero) initialisation, as when ViTDet fine-tunes an MAE checkpoint."""
    v = cfg.MODEL.VIT
    return PlainViT(
        img_size=v.IMG_SIZE, patch_size=v.PATCH_SIZE, in_chans=in_chans, embed_dim=v.EMBED_DIM,
        depth=v.DEPTH, num_heads=v.NUM_HEADS, mlp_ratio=v.MLP_RATIO, qkv_bias=v.QKV_BIAS,
        drop_path_rate=v.DROP_PATH_RATE, norm_layer=partial(nn.LayerNorm, eps=v.LN_EPS),
        use_abs_pos=v.USE_ABS_POS, use_rel_pos=v.USE_REL_POS and not token_sequence,
        rel_pos_zero_init=v.REL_POS_ZERO_INIT, window_size=v.WINDOW_SIZE,
        window_block_indexes=[] if token_sequence else [i for i in range(v.DEPTH) if i not in v.GLOBAL_BLOCK_INDEXES],
        residual_block_indexes=[] if token_sequence else list(v.RESIDUAL_BLOCK_INDEXES),
        pretrain_img_size=v.PRETRAIN_IMG_SIZE, pretrain_use_cls_token=v.PRETRAIN_USE_CLS_TOKEN,
        out_feature=v.OUT_FEATURE,
    )


@BACKBONE_REGISTRY.register()
def build_vit_sfp_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> PaddedSimpleFeaturePyramid:
    """ViT (``MODEL.VIT.*``) + simple feature pyramid (``MODEL.SFP.*``), as ViTDet.

    Outputs ``p<log2 stride>`` with ``MODEL.SFP.OUT_CHANNELS`` channels at strides
    ``PATCH_SIZE / SCALE_FACTORS`` (+ one max-pooled level for TOP_BLOCK "maxpool"):
    patch 16 and (4, 2, 1, 0.5) give p2..p6 at strides 4..64, as detectron2's FPN.
    """
    raise_config_errors(vit_sfp_config_errors(cfg))
    v, s = cfg.MODEL.VIT, cfg.MODEL.SFP
    net = build_plain_vit(cfg, input_shape.channels)
    top_block = None
    if s.TOP_BLOCK == "maxpool":
        # Its input is the last pyramid level, whatever its name (p5 for patch 16, p4 for 8).
        top_block = LastLevelMaxPools(f"p{int(math.log2(v.PATCH_SIZE / min(s.SCALE_FACTORS)))}")
    pad_multiple = v.PATCH_SIZE * net.window_size if s.PAD_TO_WINDOW and net.window_size else 1
    return PaddedSimpleFeaturePyramid(
        net, s.IN_FEATURE, s.OUT_CHANNELS, tuple(float(f) for f in s.SCALE_FACTORS), top_block=top_block,
        norm=s.NORM, square_pad=s.SQUARE_PAD, pad_multiple=pad_multiple,
    )
