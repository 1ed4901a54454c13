"""Contrastive denoising queries (DN-DETR / DINO / RT-DETR), used in training only.

Noised copies of the ground truth are fed to the decoder beside the selected queries: positives
(small box noise, some labels flipped) must be reconstructed, negatives (larger box noise) must be
called background. Their matching is known, so they give the decoder a stable training signal
that does not depend on the Hungarian assignment. An attention mask keeps the ordinary queries
from seeing them and the groups from seeing each other.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torchvision.ops import box_convert


class DenoisingGroup(NamedTuple):
    content: Tensor  # (N, D, C) label embeddings of the noised labels
    reference_boxes: Tensor  # (N, D, 4) noised boxes, normalised (cx, cy, w, h)
    attn_mask: Tensor  # (D + Q, D + Q) bool, True = may not attend
    positive_indices: list[tuple[Tensor, Tensor]]  # per image: (denoising query index, gt index)
    num_groups: int


class DenoisingQueries(nn.Module):
    def __init__(
        self,
        num_classes: int,
        hidden_dim: int,
        num_denoising: int = 100,
        label_noise_ratio: float = 0.5,
        box_noise_scale: float = 1.0,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.num_denoising = num_denoising
        self.label_noise_ratio = label_noise_ratio
        self.box_noise_scale = box_noise_scale
        # The extra index is the padding label of images with fewer boxes than the largest.
        self.label_embed = nn.Embedding(num_classes + 1, hidden_dim, padding_idx=num_classes)

    def forward(self, targets: list[dict[str, Tensor]], num_queries: int) -> DenoisingGroup | None:
        """targets: per image "labels" (G,) and "boxes" (G, 4) normalised (cx, cy, w, h).
        Returns None when there is nothing to denoise (no box in the batch)."""
        num_gts = [len(t["labels"]) for t in targets]
        max_gt = max(num_gts, default=0)
        if max_gt == 0 or self.num_denoising <= 0:
            return None
        device = self.label_embed.weight.device
        num_groups = max(self.num_denoising // max_gt, 1)
        n = len(targets)
        labels = torch.full((n, max_gt), self.num_classes, dtype=torch.int64, device=device)
        boxes = torch.zeros((n, max_gt, 4), device=device)
        real = torch.zeros((n, max_gt), dtype=torch.bool, device=device)
        for i, (t, g) in enumerate(zip(targets, num_gts)):
            labels[i, :g] = t["labels"]
            boxes[i, :g] = t["boxes"]
            real[i, :g] = True
        # Each group holds max_gt positives followed by max_gt negatives.
        labels, boxes, real = labels.repeat(1, 2 * num_groups), boxes.repeat(1, 2 * num_groups, 1), real.repeat(1, 2 * num_groups)
        negative = torch.zeros((1, 2 * max_gt, 1), device=device)
        negative[:, max_gt:] = 1
        negative = negative.repeat(1, num_groups, 1)

        if self.label_noise_ratio > 0:
            flip = (torch.rand(labels.shape, device=device) < self.label_noise_ratio * 0.5) & real
            labels = torch.where(flip, torch.randint_like(labels, 0, self.num_classes), labels)
        if self.box_noise_scale > 0:
            xyxy = box_convert(boxes, "cxcywh", "xyxy")
            diff = boxes[..., 2:].repeat(1, 1, 2) * 0.5 * self.box_noise_scale
            sign = torch.randint_like(boxes, 0, 2) * 2.0 - 1.0
            # Positives move by less than half their size, negatives by between one and two halves.
            part = torch.rand_like(boxes) + negative
            xyxy = (xyxy + sign * part * diff).clamp(0.0, 1.0)
            boxes = box_convert(xyxy, "xyxy", "cxcywh").clamp(min=0.0)

        num_dn = 2 * max_gt * num_groups
        size = num_dn + num_queries
        attn_mask = torch.zeros((size, size), dtype=torch.bool, device=device)
        attn_mask[num_dn:, :num_dn] = True
        for g in range(num_groups):
            s, e = 2 * max_gt * g, 2 * max_gt * (g + 1)
            attn_mask[s:e, :s] = True
            attn_mask[s:e, e:num_dn] = True

        positives = []
        for g_count in num_gts:
            gt = torch.arange(g_count, device=device)
            q = (torch.arange(num_groups, device=device)[:, None] * 2 * max_gt + gt[None]).flatten()
            positives.append((q, gt.repeat(num_groups)))
        return DenoisingGroup(self.label_embed(labels), boxes, attn_mask, positives, num_groups)
