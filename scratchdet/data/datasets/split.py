"""A deterministic train/val split of one annotated dataset, by image, registered as two datasets."""

from __future__ import annotations

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog

from ...config.errors import ConfigError
from .metadata import complete_coco_metadata, copy_missing_metadata


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, val) indices of ``n`` images: a seeded permutation, the first round(n * fraction) for val."""
    if not 0 < val_fraction < 1:
        raise ConfigError(f"SCRATCHDET.DATA.SPLIT: val_fraction={val_fraction} must be between 0 and 1.")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, min(n - 1, round(n * val_fraction)))
    return sorted(perm[n_val:].tolist()), sorted(perm[:n_val].tolist())


def register_split(source: str, train_name: str, val_name: str, val_fraction: float, seed: int = 0) -> None:
    """Register ``train_name`` and ``val_name`` as disjoint parts of ``source`` (same metadata,
    including the dataset-id map the evaluator needs; the COCO evaluator scores only the images
    it is given, so the source's json serves both; a VOC folder's parts are scored on their dicts)."""
    if source not in DatasetCatalog.list():
        raise ConfigError(f"SCRATCHDET.DATA.SPLIT: dataset '{source}' is not registered (register it with "
                          "SCRATCHDET.DATA.COCO first, or use a built-in name).")
    complete_coco_metadata(source)  # a source registered without its class ids: read them now
    meta = MetadataCatalog.get(source)
    # VOC datasets of SCRATCHDET.DATA.VOC are scored on their dicts (so a part scores its own
    # images); detectron2's built-in VOC splits are scored from their whole split file.
    voc_by_dicts = meta.get("evaluator_type") == "pascal_voc" and meta.get("difficult_in_dicts")
    if meta.get("evaluator_type") not in (None, "coco") and not voc_by_dicts:
        raise ConfigError(f"SCRATCHDET.DATA.SPLIT: '{source}' is a {meta.evaluator_type} dataset; splits are "
                          "supported for COCO-json datasets and VOC folders registered with SCRATCHDET.DATA.VOC "
                          "(detectron2's own VOC names are scored on their whole split file).")

    def part(which: int, name: str):
        def load():
            dicts = DatasetCatalog.get(source)
            # What the source's loader set (a lazily registered COCO json's class ids) holds for its parts.
            copy_missing_metadata(source, name)
            if len(dicts) < 2:
                raise ConfigError(f"SCRATCHDET.DATA.SPLIT: '{source}' has {len(dicts)} image(s); need 2 or more.")
            idx = split_indices(len(dicts), val_fraction, seed)[which]
            return [dicts[i] for i in idx]
        return load

    fields = {k: v for k, v in meta.as_dict().items() if k not in ("name", "shapes_split")}
    for which, name in enumerate((train_name, val_name)):
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, part(which, name))
        MetadataCatalog.get(name).set(split_of=source, **fields)
