"""Jigsaw sample extraction: enlargement, negatives, groups, skipped boxes, determinism."""

import numpy as np
import pytest
from detectron2.structures import BoxMode

from scratchdet.data.jigsaw import aspect_group, extract_samples, object_fill


def _anno(box, cls, crowd=0):
    return {"bbox": list(box), "bbox_mode": BoxMode.XYXY_ABS, "category_id": cls, "iscrowd": crowd}


def _dicts():
    return [
        {"file_name": "a.png", "height": 100, "width": 200, "image_id": 0, "annotations": [
            _anno((10, 10, 28, 50), 0), _anno((100, 20, 140, 40), 1),
            _anno((150, 60, 152, 62), 2),          # tiny (2 px)
            _anno((0, 70, 60, 100), 1, crowd=1),   # crowd
        ]},
        {"file_name": "b.png", "height": 80, "width": 80, "image_id": 1, "annotations": []},
        {"file_name": "c.png", "height": 64, "width": 64, "image_id": 2, "annotations": [
            _anno((8, 8, 40, 24), 2)]},
    ]


def test_aspect_groups_use_width_over_height():
    assert [aspect_group(w, 10) for w in (4.9, 5, 10, 15, 15.1)] == ["T", "S", "S", "S", "W"]


def test_without_enlargement_positives_are_the_usable_boxes():
    s = extract_samples(_dicts(), 3, enlarge=1.0, negative_ratio=0.0)
    assert s.boxes.tolist() == [[10, 10, 28, 50], [100, 20, 140, 40], [8, 8, 40, 24]]
    assert s.labels.tolist() == [0, 1, 2]
    assert s.image_index.tolist() == [0, 0, 2]
    assert [s.file_names[i] for i in s.image_index] == ["a.png", "a.png", "c.png"]
    assert s.centers.tolist() == [[19, 30], [120, 30], [24, 16]]
    assert s.groups.tolist() == [1, 2, 2]  # T (18/40), W (40/20), W (32/16)
    assert s.indices("T").tolist() == [0] and s.indices("S").tolist() == []


def test_enlarged_sides_are_at_most_twice_the_original_and_clipped_to_the_image():
    dicts = [{"file_name": f"{i}.png", "height": 300, "width": 300, "annotations": [_anno((140, 130, 160, 170), 0)]}
             for i in range(300)]
    s = extract_samples(dicts, 1, enlarge=2.0, negative_ratio=0.0)
    x0, y0, x1, y1 = s.boxes.T
    # each corner moves outward by up to half the side (w 20, h 40), rounded outward to whole pixels
    assert (x0 >= 130).all() and (x0 <= 140).all() and (x1 >= 160).all() and (x1 <= 170).all()
    assert (y0 >= 110).all() and (y0 <= 130).all() and (y1 >= 170).all() and (y1 <= 190).all()
    assert (s.boxes == np.round(s.boxes)).all()
    w, h = x1 - x0, y1 - y0
    assert (w >= 20).all() and (w <= 40).all() and (h >= 40).all() and (h <= 80).all()  # at most 2x the side
    assert w.max() >= 38 and h.max() >= 77 and w.min() <= 22 and h.min() <= 43  # the whole range is used
    assert 1.35 < (w / 20).mean() < 1.65 and 1.35 < (h / 40).mean() < 1.65  # mean 1.5x (+ rounding)
    fill = object_fill(s)
    assert fill.min() >= 800 / 3200 and fill.max() <= 1.0
    np.testing.assert_allclose(fill, 800 / (w * h))
    clipped = extract_samples([{"file_name": "e.png", "height": 50, "width": 50,
                                "annotations": [_anno((0, 0, 50, 50), 0)]}], 1)
    assert clipped.boxes.tolist() == [[0, 0, 50, 50]] and object_fill(clipped).tolist() == [1.0]


def test_enlarge_below_one_is_an_error():
    with pytest.raises(ValueError, match="SCRATCHDET.JIGSAW.ENLARGE"):
        extract_samples(_dicts(), 3, enlarge=0.5)


def test_negatives_one_per_ten_positives_with_iou_zero_and_background_label():
    dicts = [{"file_name": f"{i}.png", "height": 64, "width": 64, "annotations": [
        _anno((4, 4, 20, 20), 0), _anno((30, 30, 50, 60), 1), _anno((40, 0, 64, 10), 1, crowd=1)]}
        for i in range(15)]
    s = extract_samples(dicts, 2, negative_ratio=0.1)
    neg = s.labels == 2
    assert (~neg).sum() == 30 and neg.sum() == 3
    gt = np.array([[4, 4, 20, 20], [30, 30, 50, 60], [40, 0, 64, 10]], np.float32)  # crowd included
    for b in s.boxes[neg]:
        iw = np.minimum(b[2], gt[:, 2]) - np.maximum(b[0], gt[:, 0])
        ih = np.minimum(b[3], gt[:, 3]) - np.maximum(b[1], gt[:, 1])
        assert not ((iw > 0) & (ih > 0)).any()
        assert 0 <= b[0] < b[2] <= 64 and 0 <= b[1] < b[3] <= 64


def test_images_without_boxes_host_negatives():
    dicts = _dicts()
    s = extract_samples(dicts, 3, negative_ratio=1.0, seed=3)
    assert (s.labels == 3).sum() == 3
    assert len(s.file_names) == 3  # the empty image is kept


def test_extraction_is_deterministic_given_the_seed():
    a, b = extract_samples(_dicts(), 3, seed=7, negative_ratio=1.0), extract_samples(_dicts(), 3, seed=7, negative_ratio=1.0)
    c = extract_samples(_dicts(), 3, seed=8, negative_ratio=1.0)
    for f in ("boxes", "labels", "groups", "image_index", "centers", "objects"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.boxes, c.boxes)


def test_unknown_class_is_an_error():
    with pytest.raises(ValueError, match="category_id 2"):
        extract_samples(_dicts(), 2)
