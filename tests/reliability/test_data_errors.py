"""Bad datasets as a new user brings them: each stops with one clear line that names the file or
the key and what to do (exit code 2 from train_net.py, no checkpoint written), or, for the
sub-cases, the same message from the public function the entry point calls."""

import json
import os

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode

from scratchdet.config import ConfigError
from scratchdet.data.datasets import DatasetError, check_annotations_fit, read_coco_json
from scratchdet.data.datasets.availability import check_builtin_files, check_registered
from scratchdet.data.datasets.voc_xml import load_checked_voc
from tests.conftest import coco_opts, no_checkpoint, run_entry, unique


def write_images(img_dir, n, size=(64, 64), value=None):
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 255, (*size, 3), dtype=np.uint8) if value is None else np.full((*size, 3), value, np.uint8)
        cv2.imwrite(str(img_dir / f"{i}.png"), img)


def coco(tmp_path, images=None, anns=None, n=2, size=(64, 64), segm=True, name="d"):
    """A small COCO dataset (images written); returns (json path, image dir)."""
    img_dir = tmp_path / f"{name}_img"
    write_images(img_dir, n, size)
    if images is None:
        images = [{"id": i + 1, "file_name": f"{i}.png", "height": size[0], "width": size[1]} for i in range(n)]
    if anns is None:
        anns = []
        for i in range(n):
            a = {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0, "area": 400}
            if segm:
                a["segmentation"] = [[10, 10, 30, 10, 30, 30, 10, 30]]
            anns.append(a)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}))
    return str(path), str(img_dir)


# ---------------------------------------------------------------- duplicate ids (bug 3)

def _images(n, ids=None, files=None):
    ids = ids or list(range(1, n + 1))
    files = files or [f"{i}.png" for i in range(n)]
    return [{"id": i, "file_name": f, "height": 64, "width": 64} for i, f in zip(ids, files)]


def test_duplicate_image_ids_stop_train_net(tmp_path):
    # Before: image 2 was silently dropped and its box attached to image 1.
    json_file, img_dir = coco(tmp_path, images=_images(2, ids=[1, 1]), anns=[
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0, "segmentation": [[1, 1, 6, 1, 6, 6]]}])
    out = tmp_path / "out"
    code, first, _ = run_entry(out, *coco_opts(json_file, img_dir))
    assert code == 2
    assert first.startswith("scratchdet: error:") and "d.json" in first
    assert "image id(s) are used by more than one image (id 1: 0.png, 1.png)" in first
    assert no_checkpoint(out)


@pytest.mark.parametrize("ids,files,expect", [
    ([5, 5, 6], None, "id 5: 0.png, 1.png"),
    ([1, 2, 1, 2], None, "2 image id(s)"),
    (["a", "a"], None, "id a: 0.png, 1.png"),
])
def test_duplicate_image_ids_name_ids_and_files(tmp_path, ids, files, expect):
    path = tmp_path / "dup.json"
    path.write_text(json.dumps({"images": _images(len(ids), ids, files), "annotations": [],
                                "categories": [{"id": 1, "name": "x"}]}))
    with pytest.raises(DatasetError, match=r"dup\.json: .*image id") as e:
        read_coco_json(str(path))
    assert expect in str(e.value)


def test_duplicate_annotation_ids_are_refused(tmp_path):
    anns = [{"id": 3, "image_id": i, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0} for i in (1, 2)]
    json_file, _ = coco(tmp_path, anns=anns)
    with pytest.raises(DatasetError, match=r"d\.json: 1 annotation id\(s\) are used more than once \(e\.g\. \[3\]\)"
                                           r"\. Refused.*Renumber"):
        read_coco_json(json_file)


def test_duplicate_file_names_are_warned(tmp_path, scratchdet_warnings):
    json_file, _ = coco(tmp_path, images=_images(2, files=["0.png", "0.png"]))
    read_coco_json(json_file)
    assert any("d.json: 1 image file(s) are listed more than once" in w and "0.png" in w for w in scratchdet_warnings)


@pytest.mark.parametrize("data,expect", [
    ({"images": {"1": {}}, "annotations": [], "categories": [{"id": 1}]}, "'images' must be a list of objects"),
    ({"images": [{"file_name": "a.png"}], "annotations": [], "categories": [{"id": 1}]}, "entries of 'images' have no 'id'"),
    ({"images": [], "annotations": [{"image_id": 1}], "categories": [{"id": 1}]}, "entries of 'annotations' have no 'id'"),
])
def test_coco_structure_names_file(tmp_path, data, expect):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="odd.json") as e:
        read_coco_json(str(path))
    assert expect in str(e.value)


# ---------------------------------------------------------------- VOC (bug 5, malformed XML)

GOOD_OBJECT = "<object><name>dog</name><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>"


def voc(tmp_path, xml_body, size="<size><width>64</width><height>64</height><depth>3</depth></size>", raw=None):
    root = tmp_path / "voc"
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / d).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "JPEGImages" / "img1.jpg"), np.full((64, 64, 3), 90, np.uint8))
    (root / "ImageSets" / "Main" / "train.txt").write_text("img1\n")
    text = raw if raw is not None else f"<annotation><filename>img1.jpg</filename>{size}{xml_body}</annotation>"
    (root / "Annotations" / "img1.xml").write_text(text)
    return str(root)


def test_voc_coordinate_not_a_number_stops_train_net(tmp_path):
    # Before: "could not convert string to float ... not among the registered classes", no file named.
    root = voc(tmp_path, GOOD_OBJECT.replace("<xmax>30</xmax>", "<xmax>3O</xmax>"))
    name = unique("rel_voc")
    out = tmp_path / "out"
    code, first, _ = run_entry(out, "SCRATCHDET.DATA.VOC", f"[['{name}', '{root}', 'train', 'dog,cat']]",
                               "DATASETS.TRAIN", f"('{name}',)", "DATASETS.TEST", "()",
                               "MODEL.ROI_HEADS.NUM_CLASSES", "2", "MODEL.MASK_ON", "False")
    assert code == 2
    assert "img1.xml: object 1 ('dog') <bndbox>: <xmax> is '3O', not a number" in first
    assert "registered classes" not in first
    assert no_checkpoint(out)


@pytest.mark.parametrize("body,raw,expect", [
    (GOOD_OBJECT.replace("<ymin>6</ymin>", "<ymin>six</ymin>"), None, "object 1 ('dog') <bndbox>: <ymin> is 'six', not a number"),
    (GOOD_OBJECT.replace("<xmin>5</xmin>", "<xmin></xmin>"), None, "object 1 ('dog') <bndbox> has no <xmin>"),
    (GOOD_OBJECT.replace("<ymax>40</ymax>", ""), None, "object 1 ('dog') <bndbox> has no <ymax>"),
    (GOOD_OBJECT + GOOD_OBJECT.replace("<xmin>5</xmin>", "<xmin>5,5</xmin>"), None, "object 2 ('dog') <bndbox>: <xmin> is '5,5'"),
    ("<object><name>dog</name></object>", None, "object 1 ('dog') has no <bndbox>"),
    (GOOD_OBJECT.replace("<name>dog</name>", ""), None, "object 1 has no <name>"),
    (GOOD_OBJECT.replace("dog", "horse"), None, "class 'horse' is not among the registered classes ['dog', 'cat']"),
    (None, "<annotation><object><name>dog</name>", "not valid XML (no element found"),
    (None, "", "not valid XML"),
    (None, "<annotation><size><width>64</width></annotation>", "not valid XML (mismatched tag"),
    (None, "<annotation><filename>img1.jpg</filename></annotation>", "no <size>"),
    (None, "<annotation><size><width>64px</width><height>64</height></size></annotation>", "<size>: <width> is '64px', not a number"),
])
def test_voc_problems_name_file_object_field(tmp_path, body, raw, expect):
    root = voc(tmp_path, body, raw=raw)
    with pytest.raises(DatasetError) as e:
        load_checked_voc(root, "train", ["dog", "cat"])
    msg = str(e.value)
    assert msg.startswith(os.path.join(root, "Annotations", "img1.xml") + ":"), msg
    assert expect in msg


def test_voc_missing_xml_names_it(tmp_path):
    root = voc(tmp_path, GOOD_OBJECT)
    os.remove(os.path.join(root, "Annotations", "img1.xml"))
    with pytest.raises(DatasetError, match=r"Annotations/img1\.xml not found: every id in .*train\.txt"):
        load_checked_voc(root, "train", ["dog", "cat"])


def test_voc_reads_as_detectron2_does(tmp_path):
    from detectron2.data.datasets.pascal_voc import load_voc_instances

    root = voc(tmp_path, GOOD_OBJECT + GOOD_OBJECT.replace("dog", "cat").replace("<xmin>5", "<xmin>12"))
    # detectron2's loader needs two ids (numpy reads a one-line split file as a 0-d array).
    xml = open(os.path.join(root, "Annotations", "img1.xml")).read()
    open(os.path.join(root, "Annotations", "img2.xml"), "w").write(xml.replace("<xmax>30", "<xmax>33"))
    open(os.path.join(root, "ImageSets", "Main", "train.txt"), "w").write("img1\nimg2\n")
    ours = load_checked_voc(root, "train", ["dog", "cat"])
    # Ours also keep VOC's <difficult> flag (for VOC AP, scratchdet.evaluation.voc_detection).
    assert all(a.pop("difficult") == 0 for d in ours for a in d["annotations"])
    assert ours == load_voc_instances(root, "train", ["dog", "cat"])


# ---------------------------------------------------------------- annotations that cannot train the model

def test_no_annotations_at_all_stops_train_net(tmp_path):
    json_file, img_dir = coco(tmp_path, anns=[])
    out = tmp_path / "out"
    code, first, _ = run_entry(out, *coco_opts(json_file, img_dir))
    assert code == 2
    assert "d.json: no annotations at all (2 image(s), 0 objects)" in first and "DefaultPredictor" in first
    assert no_checkpoint(out)


def test_box_only_data_with_mask_model_stops_train_net(tmp_path):
    json_file, img_dir = coco(tmp_path, segm=False)
    name = unique("rel_boxes")
    out = tmp_path / "out"
    code, first, _ = run_entry(out, *coco_opts(json_file, img_dir, name))
    assert code == 2
    assert "d.json: the annotations have boxes but no masks" in first and "MODEL.MASK_ON False" in first
    assert name in first
    assert no_checkpoint(out)


def _dicts(segms, crowd=0):
    return [{"file_name": f"{i}.png", "annotations": [
        {"bbox": [1, 1, 5, 5], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": crowd,
         **({"segmentation": s} if s else {})}]} for i, s in enumerate(segms)]


@pytest.mark.parametrize("dicts,mask_on,is_train,expect", [
    (_dicts([None, [[1, 1, 5, 1, 5, 5]]]), True, True, "1 of 2 objects have no mask ('segmentation'), e.g. in 0.png"),
    (_dicts([None], crowd=1), False, True, "no annotations at all (1 image(s), 0 objects)"),
    ([{"file_name": "a.png"}], False, True, "no annotations at all"),
    (_dicts([None, None]), True, False, "boxes but no masks"),
])
def test_annotations_that_do_not_fit(dicts, mask_on, is_train, expect):
    with pytest.raises(DatasetError, match=r"dataset 'nowhere'") as e:
        check_annotations_fit(dicts, ["nowhere"], mask_on=mask_on, is_train=is_train)
    assert expect in str(e.value)


@pytest.mark.parametrize("dicts,mask_on,is_train", [
    (_dicts([None, None]), False, True),  # box-only data, box model
    ([{"file_name": "a.png", "annotations": []}], True, False),  # an unlabelled test set is not refused here
])
def test_annotations_that_fit(dicts, mask_on, is_train):
    check_annotations_fit(dicts, ["nowhere"], mask_on=mask_on, is_train=is_train)


# ---------------------------------------------------------------- images found bad while training

def test_corrupt_image_in_a_worker_is_the_first_line(tmp_path):
    json_file, img_dir = coco(tmp_path, n=2)
    for f in os.listdir(img_dir):
        open(os.path.join(img_dir, f), "wb").write(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    code, first, err = run_entry(out, *coco_opts(json_file, img_dir), "DATALOADER.NUM_WORKERS", "1")
    assert code == 2
    assert first.startswith("scratchdet: error: Cannot read image ") and "_img/" in first and ".png" in first
    assert "DataLoader worker" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3
    assert no_checkpoint(out)


def test_dataset_error_keeps_its_message_across_the_worker_boundary():
    class Bad(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            raise DatasetError("x.png: broken.\nsecond line")

    with pytest.raises(DatasetError) as e:
        next(iter(torch.utils.data.DataLoader(Bad(), num_workers=1)))
    assert str(e.value) == "x.png: broken.\nsecond line"
    assert "Original Traceback" in e.value.worker_traceback


@pytest.mark.parametrize("width,height", [(80, 64), (64, 48), (48, 80)])
def test_json_size_that_disagrees_with_the_image(tmp_path, width, height):
    images = [{"id": i + 1, "file_name": f"{i}.png", "height": height, "width": width} for i in range(2)]
    json_file, img_dir = coco(tmp_path, images=images)
    out = tmp_path / "out"
    code, first, err = run_entry(out, *coco_opts(json_file, img_dir))
    assert code == 2
    assert f"says the image is {width}x{height} (width x height) but the file is 64x64" in first
    assert "_img/" in first and "Traceback" not in err
    assert no_checkpoint(out)


# ---------------------------------------------------------------- dataset names

@pytest.mark.parametrize("key,name,suggested", [
    ("DATASETS.TRAIN", "shapes_trian", "'shapes_train'"),
    ("DATASETS.TEST", "shape_val", "'shapes_val'"),
    ("DATASETS.TRAIN", "coco_2017_trian", "'coco_2017_train'"),
    ("DATASETS.TEST", "voc_2007_tst", "'voc_2007_test'"),
])
def test_unregistered_name_suggests_close_ones(tmp_path, key, name, suggested):
    out = tmp_path / "out"
    code, first, _ = run_entry(out, key, f"('{name}',)")
    assert code == 2
    assert first.startswith(f"scratchdet: error: {key}: dataset '{name}' is not registered. Did you mean {suggested}")
    assert len(first) < 400  # a few close names, not the list of every registered dataset
    assert no_checkpoint(out)


def test_unrelated_name_gets_no_long_list():
    with pytest.raises(ConfigError) as e:
        check_registered(["my_cells"], "DATASETS.TRAIN")
    assert "not registered" in str(e.value) and len(str(e.value)) < 400


@pytest.mark.parametrize("name,path", [
    ("coco_2017_train", "coco/annotations/instances_train2017.json"),
    ("coco_2017_val", "coco/annotations/instances_val2017.json"),
    ("voc_2007_trainval", "VOC2007"),
    ("voc_2012_train", "VOC2012"),
])
def test_builtin_dataset_without_files_says_where(name, path, monkeypatch):
    if os.path.exists(os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), path)):
        pytest.skip(f"{name} is installed here")
    with pytest.raises(DatasetError) as e:
        check_builtin_files(name)
    msg = str(e.value)
    assert f"Dataset '{name}' is a detectron2 built-in dataset, but " in msg and path in msg
    assert "DETECTRON2_DATASETS" in msg


def test_own_dataset_under_the_datasets_folder_is_not_called_builtin(tmp_path, monkeypatch):
    """A COCO json registered from the config, in a folder under $DETECTRON2_DATASETS (here the
    embedded nuclei's place before datasets/prepare_nuclei.py ran): the message is about the
    user's own file, not about detectron2's built-in datasets."""
    from scratchdet.data.datasets import ensure_dataset_files
    from scratchdet.data.datasets.coco_json import register_coco_json

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    missing = str(tmp_path / "nuclei" / "train.json")
    register_coco_json("own_under_root", missing, str(tmp_path / "nuclei" / "train"))
    check_builtin_files("own_under_root")  # not a built-in: nothing to say here
    with pytest.raises(DatasetError) as e:
        ensure_dataset_files("own_under_root")
        DatasetCatalog.get("own_under_root")
    assert "built-in" not in str(e.value) and missing in str(e.value)


def test_dataset_registered_in_user_code_is_not_called_builtin(tmp_path, monkeypatch):
    """detectron2's register_coco_instances in the user's code, files under $DETECTRON2_DATASETS
    but missing: the message names the file and says where to correct it, not "built-in"."""
    from detectron2.data.datasets import register_coco_instances

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    missing = str(tmp_path / "cells" / "train.json")
    register_coco_instances("users_cells_train", {}, missing, str(tmp_path / "cells"))
    with pytest.raises(DatasetError) as e:
        check_builtin_files("users_cells_train")
    msg = str(e.value)
    assert "built-in" not in msg and missing in msg and "json_file" in msg and "registered" in msg


def test_builtin_dataset_without_files_stops_train_net_before_training(tmp_path):
    if os.path.exists(os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "coco")):
        pytest.skip("COCO is installed here")
    out = tmp_path / "out"
    code, first, _ = run_entry(out, "DATASETS.TEST", "('coco_2017_val',)")
    assert code == 2 and "coco_2017_val" in first and "instances_val2017.json" in first
    assert "$DETECTRON2_DATASETS" in first
    assert no_checkpoint(out)


def test_registered_datasets_still_load():
    assert len(DatasetCatalog.get("shapes_val")) > 0
