import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from scratchdet.config import ConfigError, load_config_file
from scratchdet.data.datasets import ensure_dataset_files, register_datasets_from_config
from scratchdet.data.datasets.split import split_indices
from tests.conftest import DEMO_CONFIG


def test_split_is_deterministic_disjoint_and_complete():
    tr, va = split_indices(50, 0.2, seed=3)
    assert (tr, va) == split_indices(50, 0.2, seed=3)
    assert len(va) == 10 and not set(tr) & set(va) and sorted(tr + va) == list(range(50))
    assert split_indices(50, 0.2, seed=4)[1] != va


def test_split_from_the_command_line():
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.SPLIT", "[['shapes_val', 'sv_tr', 'sv_va', 0.25, 1]]"])
    assert register_datasets_from_config(cfg) == ["sv_tr", "sv_va"]
    tr, va = DatasetCatalog.get("sv_tr"), DatasetCatalog.get("sv_va")
    assert len(va) == 20 and len(tr) == 60
    assert not {d["image_id"] for d in tr} & {d["image_id"] for d in va}
    ensure_dataset_files("sv_va")
    meta = MetadataCatalog.get("sv_va")
    assert meta.evaluator_type == "coco" and meta.json_file.endswith("val.json") and meta.thing_classes[0] == "circle"


def test_split_errors():
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.SPLIT", "[['nope', 'a', 'b', 0.2]]"])
    with pytest.raises(ConfigError, match="'nope' is not registered"):
        register_datasets_from_config(cfg)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        split_indices(10, 1.5, 0)
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.SPLIT", "[['voc_2007_test', 'a', 'b', 0.2]]"])
    with pytest.raises(ConfigError, match="pascal_voc dataset"):
        register_datasets_from_config(cfg)
