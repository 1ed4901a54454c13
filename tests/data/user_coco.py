"""A user's own COCO json, written by a test: 1-based or non-contiguous category ids, coloured
boxes on a grey background (learnable in a few iterations), 64-96 px images."""

from __future__ import annotations

import json

import cv2
import numpy as np

COLOURS = [(230, 40, 40), (40, 200, 40), (40, 40, 230), (220, 220, 40)]


def write_user_coco(root, name: str, cat_ids: list[int], n_images: int = 8, size: tuple[int, int] = (80, 96),
                    boxes_per_image: int = 3, seed: int = 0) -> tuple[str, str]:
    """Write ``root/name.json`` and ``root/name/*.png``; return (json_file, image_root)."""
    rng = np.random.default_rng(seed)
    img_dir = root / name
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    h, w = size
    for i in range(n_images):
        img = np.full((h, w, 3), 128, np.uint8)
        for _ in range(boxes_per_image):
            k = int(rng.integers(len(cat_ids)))
            bw, bh = (int(v) for v in rng.integers(14, 30, 2))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            img[y:y + bh, x:x + bw] = COLOURS[k % len(COLOURS)]
            poly = [x, y, x + bw, y, x + bw, y + bh, x, y + bh]
            anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": cat_ids[k], "iscrowd": 0,
                         "bbox": [x, y, bw, bh], "area": bw * bh, "segmentation": [poly]})
        cv2.imwrite(str(img_dir / f"{i}.png"), img[:, :, ::-1])
        images.append({"id": 100 + i, "file_name": f"{i}.png", "height": h, "width": w})
    cats = [{"id": c, "name": f"class{c}"} for c in cat_ids]
    json_file = root / f"{name}.json"
    json_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return str(json_file), str(img_dir)
