"""Masked-image pre-training (MAE, He et al. 2022) of the project's plain ViT on the target
dataset's own images, labels unused. The encoder is the ViT of ``MODEL.VIT.*`` that ViTDet-style
detectors fine-tune (``build_plain_vit``), under ``encoder.*``: hand it over with
``SCRATCHDET.HANDOVER.KEY_MAP [["encoder.", "backbone.net."]]``. The decoder, its mask token and
the encoder's last norm (``decoder*``, ``mask_token``, ``encoder_norm``) are dropped after
pre-training.

One step: patchify, add the absolute position embedding, keep a random ``1 - MASK_RATIO`` of
the patches (the encoder sees only those), decode the encoded visible tokens with mask tokens in
the removed places (fixed 2-D sin-cos positions), predict every patch's pixels, and take the mean
squared error over the removed patches only, against pixels normalised per patch (NORM_PIX_LOSS).
"""

from __future__ import annotations

import torch
from detectron2.config import CfgNode, configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.backbone.utils import get_abs_pos
from detectron2.structures import ImageList
from torch import Tensor, nn

from ..backbone.vit_sfp import PlainViT, _Block, build_plain_vit
from ..needs import ConfigNeeds

__all__ = ["MAEPretrainer", "random_masking", "sincos_position_embedding"]


def sincos_position_embedding(dim: int, h: int, w: int) -> Tensor:
    """MAE's fixed 2-D sin-cos embedding of an h x w grid, (h*w, dim): half the channels encode
    the row, half the column. Computed for any grid, so no table has to be resized."""
    if dim % 4:
        raise ValueError(f"the sin-cos position embedding needs a width divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")

    def enc(pos: Tensor) -> Tensor:
        out = pos.reshape(-1, 1) * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    return torch.cat([enc(ys), enc(xs)], dim=1).float()


def random_masking(batch: int, num: int, ratio: float, device: torch.device,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Per image, a random subset of ``num - round(num * ratio)`` kept tokens (at least one).
    Returns (kept indices (B, K), mask (B, N) with 1 = removed, the permutation that puts
    [kept, removed] tokens back in grid order (B, N))."""
    keep = max(1, num - round(num * ratio))
    noise = torch.rand(batch, num, device=device, generator=generator)
    shuffle = noise.argsort(dim=1)
    restore = shuffle.argsort(dim=1)
    mask = torch.ones(batch, num, device=device)
    mask[:, :keep] = 0
    return shuffle[:, :keep], torch.gather(mask, 1, restore), restore


@META_ARCH_REGISTRY.register()
class MAEPretrainer(nn.Module):
    """Masked autoencoder over ``encoder`` (a :class:`PlainViT` run on a token sequence)."""

    # Nothing for the set-up checks: no head reads backbone features, labels are unused.
    config_needs = ConfigNeeds()

    @configurable
    def __init__(self, *, encoder: PlainViT, decoder_dim: int, decoder_depth: int, decoder_heads: int,
                 mask_ratio: float, norm_pix_loss: bool, pixel_mean: tuple[float, ...],
                 pixel_std: tuple[float, ...], mlp_ratio: float = 4.0, ln_eps: float = 1e-6,
                 fixed_sincos_pos: bool = True):
        super().__init__()
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"SCRATCHDET.MAE.MASK_RATIO={mask_ratio}: use a value in [0, 1).")
        self.encoder = encoder
        self.patch_size = encoder.patch_size
        dim = encoder.pos_embed.shape[-1] if encoder.pos_embed is not None else encoder.patch_embed.proj.out_channels
        self.encoder_norm = nn.LayerNorm(dim, eps=ln_eps)  # MAE's encoder ends with a norm; ViTDet's ViT does not
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        norm = lambda d: nn.LayerNorm(d, eps=ln_eps)  # noqa: E731
        self.decoder_blocks = nn.ModuleList(
            _Block(decoder_dim, decoder_heads, mlp_ratio, True, 0.0, norm, nn.GELU, False, True, 0, False, (1, 1))
            for _ in range(decoder_depth)
        )
        self.decoder_norm = norm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch_size ** 2 * encoder.patch_embed.proj.in_channels)
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self._init_decoder()
        if fixed_sincos_pos and encoder.pos_embed is not None:
            self._fix_sincos_position_terms(dim)

    def _fix_sincos_position_terms(self, dim: int) -> None:
        """MAE's encoder position terms: the sin-cos table of the pre-training grid, frozen (the
        class-token slot, unused here, stays zero)."""
        pos = self.encoder.pos_embed
        n = pos.shape[1] - int(self.encoder.pretrain_use_cls_token)
        side = int(round(n ** 0.5))
        with torch.no_grad():
            pos.zero_()
            pos[0, pos.shape[1] - n:] = sincos_position_embedding(dim, side, side).to(pos)
        pos.requires_grad_(False)

    def _init_decoder(self) -> None:
        # MAE: xavier-uniform linears, zero biases, unit LayerNorms, mask token N(0, 0.02).
        for m in [self.encoder_norm, self.decoder_embed, *self.decoder_blocks, self.decoder_norm, self.decoder_pred]:
            for sub in m.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.xavier_uniform_(sub.weight)
                    nn.init.zeros_(sub.bias)
                elif isinstance(sub, nn.LayerNorm):
                    nn.init.ones_(sub.weight)
                    nn.init.zeros_(sub.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        mae = cfg.SCRATCHDET.MAE
        return {
            "encoder": build_plain_vit(cfg, len(cfg.MODEL.PIXEL_MEAN), token_sequence=True),
            "decoder_dim": mae.DECODER_EMBED_DIM, "decoder_depth": mae.DECODER_DEPTH,
            "decoder_heads": mae.DECODER_NUM_HEADS, "mask_ratio": mae.MASK_RATIO,
            "norm_pix_loss": mae.NORM_PIX_LOSS, "pixel_mean": tuple(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": tuple(cfg.MODEL.PIXEL_STD), "mlp_ratio": cfg.MODEL.VIT.MLP_RATIO,
            "ln_eps": cfg.MODEL.VIT.LN_EPS, "fixed_sincos_pos": mae.FIXED_SINCOS_POS,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: list[dict]) -> Tensor:
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return ImageList.from_tensors(images, self.patch_size).tensor

    def patchify(self, images: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, H/p * W/p, p*p*C), patches in row-major order."""
        b, c, h, w = images.shape
        p = self.patch_size
        x = images.reshape(b, c, h // p, p, w // p, p)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)

    def unpatchify(self, patches: Tensor, h: int, w: int) -> Tensor:
        """Inverse of :meth:`patchify` for an (h, w)-token grid."""
        b, p = patches.shape[0], self.patch_size
        c = patches.shape[-1] // (p * p)
        x = patches.reshape(b, h, w, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, h * p, w * p)

    def encode(self, images: Tensor, keep: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.encoder.patch_embed(images)  # (B, H, W, C)
        b, h, w, c = x.shape
        if self.encoder.pos_embed is not None:
            x = x + get_abs_pos(self.encoder.pos_embed, self.encoder.pretrain_use_cls_token, (h, w))
        x = torch.gather(x.reshape(b, h * w, c), 1, keep[..., None].expand(-1, -1, c))
        # detectron2's blocks take (B, H, W, C): the visible tokens as a 1 x K "image", global attention.
        x = x[:, None]
        for blk in self.encoder.blocks:
            x = blk(x)
        return self.encoder_norm(x[:, 0]), (h, w)

    def decode(self, latent: Tensor, restore: Tensor, grid: tuple[int, int]) -> Tensor:
        x = self.decoder_embed(latent)
        b, k, d = x.shape
        n = restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(b, n - k, d)], dim=1)
        x = torch.gather(x, 1, restore[..., None].expand(-1, -1, d))
        x = x + sincos_position_embedding(d, *grid).to(x)[None]
        x = x[:, None]
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x[:, 0]))

    def target(self, images: Tensor) -> Tensor:
        t = self.patchify(images)
        if self.norm_pix_loss:
            mean, var = t.mean(-1, keepdim=True), t.var(-1, keepdim=True)
            t = (t - mean) / (var + 1e-6).sqrt()
        return t

    def run(self, images: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Everything of one step: ``pred`` and ``target`` (B, N, p*p*C), ``mask`` (B, N), ``loss``."""
        n = (images.shape[-2] // self.patch_size) * (images.shape[-1] // self.patch_size)
        keep, mask, restore = random_masking(images.shape[0], n, self.mask_ratio, images.device, generator)
        latent, grid = self.encode(images, keep)
        pred = self.decode(latent, restore, grid)
        target = self.target(images)
        per_patch = ((pred - target) ** 2).mean(dim=-1)
        loss = (per_patch * mask).sum() / mask.sum().clamp(min=1.0)
        return {"pred": pred, "target": target, "mask": mask, "loss": loss, "grid": grid}

    def forward(self, batched_inputs: list[dict]):
        images = self.preprocess_image(batched_inputs)
        out = self.run(images)
        if self.training:
            return {"loss_mae": out["loss"]}
        return [{"mae_loss": out["loss"]} for _ in batched_inputs]

    @torch.no_grad()
    def reconstruct(self, batched_inputs: list[dict], seed: int = 0) -> dict[str, Tensor]:
        """Images in pixel space (B, C, H, W): ``original``, ``masked`` (removed patches grey) and
        ``reconstruction`` (visible patches as given, removed ones predicted), and ``mask`` (B, N). With per-patch
        normalised targets, predictions are de-normalised with the true patch's mean and std, as
        MAE's own visualisation does (the mean colour is not what the model is asked for)."""
        images = self.preprocess_image(batched_inputs)
        g = torch.Generator(device=images.device).manual_seed(seed)
        out = self.run(images, g)
        pred, mask, (h, w) = out["pred"], out["mask"], out["grid"]
        patches = self.patchify(images)
        if self.norm_pix_loss:
            mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True)
            pred = pred * (var + 1e-6).sqrt() + mean
        m = mask[..., None]
        recon = patches * (1 - m) + pred * m
        to_pixels = lambda t: self.unpatchify(t, h, w) * self.pixel_std + self.pixel_mean  # noqa: E731
        return {"original": to_pixels(patches), "masked": to_pixels(patches * (1 - m)),
                "reconstruction": to_pixels(recon), "mask": mask}
