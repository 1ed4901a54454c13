"""Large-scale jitter (LSJ), as in detectron2's from-scratch "new baselines" and Ghiasi et al.:
rescale the image to fit a random fraction (0.1-2.0) of a square target, then take a random
fixed-size crop and pad to the target. Built from detectron2's ResizeScale and FixedSizeCrop."""

from __future__ import annotations

from detectron2.data import transforms as T


def build_lsj_augmentations(
    image_size: int,
    scale_range: tuple[float, float] = (0.1, 2.0),
    pad_value: float = 128.0,
) -> list[T.Augmentation]:
    """Rescale to fit ``s * image_size`` (s uniform in ``scale_range``, aspect ratio kept), then
    crop (a random window when larger) and pad (right and bottom, when smaller) to
    ``image_size x image_size``. Crops cut polygons exactly (shapely) and the mapper recomputes
    boxes from masks, as detectron2's LSJ configs do."""
    min_scale, max_scale = scale_range
    if not 0 < min_scale <= max_scale:
        raise ValueError(f"LSJ scale range must satisfy 0 < min <= max, got {scale_range}.")
    return [
        T.ResizeScale(min_scale, max_scale, image_size, image_size),
        T.FixedSizeCrop((image_size, image_size), pad=True, pad_value=pad_value),
    ]
