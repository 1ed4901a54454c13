"""The standard multi-scale training policy: the shortest edge drawn uniformly from a range
around the test size (detectron2's 640-800 for a test size of 800), the longest edge capped."""

from __future__ import annotations

from detectron2.data import transforms as T


def build_multiscale_augmentations(
    test_size: int, scale_range: tuple[float, float], max_size: int
) -> list[T.Augmentation]:
    """Shortest edge uniform in [scale_range[0] * test_size, scale_range[1] * test_size]
    (integers), longest edge at most ``max_size``."""
    lo, hi = (round(s * test_size) for s in scale_range)
    if not 0 < lo <= hi:
        raise ValueError(f"Multi-scale range must satisfy 0 < min <= max, got {scale_range}.")
    return [T.ResizeShortestEdge((lo, hi), max_size, sample_style="range")]
