"""Copy-Paste's occlusion bookkeeping on hand-built images with known coordinates."""

import numpy as np
import pytest
from detectron2.data import detection_utils as utils
from detectron2.structures import BoxMode
from detectron2.structures.masks import polygons_to_bitmask

from scratchdet.data.transforms import (
    CopyPaste,
    paste_instances,
    polygons_without_holes,
)

S = 64


def square(x0, y0, x1, y1):
    return [float(v) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]


def anno(box, cls=0, masks=True):
    a = {"bbox": [float(v) for v in box], "bbox_mode": BoxMode.XYXY_ABS, "category_id": cls}
    if masks:
        a["segmentation"] = [square(*box)]
    return a


def raster(a):
    return polygons_to_bitmask([np.asarray(p) for p in a["segmentation"]], S, S)


TARGET = np.zeros((S, S, 3), np.uint8)
SOURCE = np.full((S, S, 3), 200, np.uint8)
A, B = [10, 10, 30, 30], [40, 40, 50, 50]


def test_fully_covered_instance_is_dropped():
    image, out = paste_instances(TARGET, [anno(A, 0), anno(B, 1)], SOURCE, [anno([38, 38, 52, 52], 2)])
    assert [a["category_id"] for a in out] == [0, 2]  # B dropped, A untouched, the pasted one last
    assert out[0]["segmentation"] == [square(*A)] and out[0]["bbox"] == [float(v) for v in A]
    np.testing.assert_allclose(out[1]["bbox"], [38, 38, 52, 52])
    assert (image[38:52, 38:52] == 200).all() and image.sum() == 14 * 14 * 3 * 200


def test_partly_covered_instance_shrinks_to_its_visible_part():
    image, out = paste_instances(TARGET, [anno(A, 0)], SOURCE, [anno([20, 0, 40, 40], 1)])
    a = out[0]
    np.testing.assert_allclose(a["bbox"], [10, 10, 20, 30])
    mask = raster(a)
    assert mask.sum() == 10 * 20 and mask[10:30, 10:20].all()
    instances = utils.annotations_to_instances(out, (S, S))
    np.testing.assert_allclose(instances.gt_boxes.tensor[0], [10, 10, 20, 30])
    assert (image[0:40, 20:40] == 200).all() and (image[:, :20] == 0).all()


def test_nearly_covered_instance_follows_the_threshold():
    # 90% of A is covered: dropped at min_visible_fraction 0.2, kept (shrunk) at 0.05.
    paste = [anno([12, 0, 40, 40], 1)]
    _, out = paste_instances(TARGET, [anno(A, 0)], SOURCE, paste, min_visible_fraction=0.2)
    assert [a["category_id"] for a in out] == [1]
    _, out = paste_instances(TARGET, [anno(A, 0)], SOURCE, paste, min_visible_fraction=0.05)
    np.testing.assert_allclose(out[0]["bbox"], [10, 10, 12, 30])


def test_paste_inside_an_instance_makes_a_hole():
    _, out = paste_instances(TARGET, [anno(A, 0)], SOURCE, [anno([15, 15, 20, 20], 1)])
    a = out[0]
    np.testing.assert_allclose(a["bbox"], A)  # still spans the whole square
    mask = raster(a)
    assert mask.sum() == 400 - 25 and not mask[15:20, 15:20].any()
    assert all(len(p) >= 6 for p in a["segmentation"])


def test_scale_and_offset_place_the_source():
    src = np.zeros((S, S, 3), np.uint8)
    src[0:10, 0:10] = 255
    image, out = paste_instances(TARGET, [], src, [anno([0, 0, 10, 10], 3)], scale=2.0, offset=(5, 7))
    np.testing.assert_allclose(out[0]["bbox"], [5, 7, 25, 27])
    np.testing.assert_allclose(np.asarray(out[0]["segmentation"][0]).reshape(-1, 2).min(0), [5, 7])
    # Pixels inside the pasted mask come from the (bilinearly) resized source, none outside.
    assert (image[9:25, 7:23] == 255).all()
    outside = np.ones((S, S), bool)
    outside[7:27, 5:25] = False
    assert not image[outside].any()
    # Cut at the image border: offset (54, 0) keeps the left 10 columns of the 20 px square.
    _, out = paste_instances(TARGET, [], src, [anno([0, 0, 10, 10], 3)], scale=2.0, offset=(54, 0))
    np.testing.assert_allclose(out[0]["bbox"], [54, 0, 64, 20])


def test_box_only_data_is_cut_by_boxes():
    target = [anno(A, 0, masks=False), anno(B, 1, masks=False)]
    image, out = paste_instances(TARGET, target, SOURCE, [anno([20, 0, 64, 64], 2, masks=False)])
    assert [a["category_id"] for a in out] == [0, 2] and "segmentation" not in out[0]
    np.testing.assert_allclose(out[0]["bbox"], [10, 10, 20, 30])
    assert (image[:, 20:] == 200).all() and (image[:, :20] == 0).all()


def test_binary_masks_are_updated_as_masks():
    mask_a = np.zeros((S, S), np.uint8)
    mask_a[10:30, 10:30] = 1
    target = [dict(anno(A, 0), segmentation=mask_a)]
    _, out = paste_instances(TARGET, target, SOURCE, [anno([20, 0, 40, 40], 1)])
    a = out[0]
    assert isinstance(a["segmentation"], np.ndarray) and a["segmentation"].sum() == 200
    np.testing.assert_allclose(a["bbox"], [10, 10, 20, 30])
    instances = utils.annotations_to_instances(out, (S, S), mask_format="bitmask")
    assert instances.gt_masks.tensor.shape == (2, S, S)


def test_inputs_are_not_modified():
    target, source = [anno(A, 0)], [anno([20, 0, 40, 40], 1)]
    before = (repr(target), repr(source))
    paste_instances(TARGET, target, SOURCE, source, scale=1.5, offset=(3, 4))
    assert (repr(target), repr(source)) == before


def test_polygons_without_holes_split_a_ring():
    from shapely.geometry import box

    ring = box(0, 0, 10, 10).difference(box(4, 4, 6, 6))
    pieces = polygons_without_holes(ring)
    assert len(pieces) == 2
    mask = polygons_to_bitmask(pieces, 10, 10)
    assert mask.sum() == 96 and not mask[4:6, 4:6].any()


def test_random_copy_paste_on_an_image_without_annotations():
    rng = np.random.default_rng(0)
    cp = CopyPaste((0.5, 1.5), 0.1)
    for _ in range(5):
        image, out = cp(TARGET, [], SOURCE, [anno([5, 5, 20, 20], 1), anno([30, 30, 60, 60], 2)], rng)
        assert image.shape == TARGET.shape and 1 <= len(out) <= 2
        for a in out:
            x0, y0, x1, y1 = a["bbox"]
            assert 0 <= x0 < x1 <= S and 0 <= y0 < y1 <= S
    image, out = cp(TARGET, [anno(A)], SOURCE, [], rng)  # nothing to paste
    assert image is TARGET and len(out) == 1
    with pytest.raises(ValueError):
        CopyPaste((0.0, 1.0))
