"""MAE pre-training of the plain ViT: masking, what the encoder sees, the loss, learning, and
that its encoder is exactly the ViT a ViTDet detector fine-tunes."""

import torch
from detectron2.modeling import build_model

from scratchdet.checkpoint.conversion import map_keys
from scratchdet.config import load_config_file
from scratchdet.modeling.meta_arch.mae import MAEPretrainer, random_masking, sincos_position_embedding
from tests.conftest import REPO

MAE_CFG = f"{REPO}/projects/MAEPretrain/configs/mae_vit_tiny_shapes_cpu.yaml"
DET_CFG = f"{REPO}/projects/ViTDet-Scratch/configs/mask_rcnn_vit_tiny_shapes_cpu.yaml"
SMALL = ["MODEL.VIT.IMG_SIZE", "64", "MODEL.VIT.PRETRAIN_IMG_SIZE", "64", "SCRATCHDET.MAE.IMAGE_SIZE", "64"]


def _model(*opts) -> MAEPretrainer:
    torch.manual_seed(0)
    return build_model(load_config_file(MAE_CFG, SMALL + list(opts)))


def test_random_masking_keeps_the_ratio_and_restores_the_order():
    g = torch.Generator().manual_seed(0)
    keep, mask, restore = random_masking(3, 64, 0.75, torch.device("cpu"), g)
    assert keep.shape == (3, 16) and mask.shape == (3, 64)
    assert torch.all(mask.sum(1) == 48)
    for b in range(3):
        assert torch.all(mask[b, keep[b]] == 0)  # kept tokens are the unmasked ones
        assert len(set(keep[b].tolist())) == 16
    # [kept, removed] gathered by `restore` is the identity order
    shuffle = restore.argsort(1)
    assert torch.equal(torch.gather(shuffle, 1, restore), torch.arange(64).expand(3, -1))


def test_patchify_round_trip_and_sincos_shape():
    m = _model()
    x = torch.randn(2, 3, 64, 48)
    p = m.patchify(x)
    assert p.shape == (2, 8 * 6, 8 * 8 * 3)
    assert torch.equal(m.unpatchify(p, 8, 6), x)
    e = sincos_position_embedding(16, 3, 5)
    assert e.shape == (15, 16) and torch.all(e.abs() <= 1)


def test_encoder_sees_only_the_kept_patches():
    m = _model().eval()
    images = torch.randn(2, 3, 64, 64)
    keep, mask, _ = random_masking(2, 64, 0.75, images.device, torch.Generator().manual_seed(1))
    latent, grid = m.encode(images, keep)
    assert latent.shape == (2, 16, 96) and grid == (8, 8)
    # Change every removed patch: the encoding of the visible ones must not move.
    patches = m.patchify(images)
    noisy = patches + mask[..., None] * torch.randn_like(patches) * 5
    latent2, _ = m.encode(m.unpatchify(noisy, 8, 8), keep)
    assert torch.allclose(latent, latent2, atol=1e-5)


def test_loss_is_the_normalised_pixel_error_on_removed_patches_only():
    m = _model().eval()
    images = torch.randn(2, 3, 64, 64) * 30 + 5
    out = m.run(images, torch.Generator().manual_seed(2))
    t = m.patchify(images)
    t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6).sqrt()
    assert torch.allclose(out["target"], t)
    per_patch = ((out["pred"] - t) ** 2).mean(-1)
    expected = (per_patch * out["mask"]).sum() / out["mask"].sum()
    assert torch.allclose(out["loss"], expected)
    # Predictions on the visible patches do not enter the loss.
    pred = out["pred"].clone()
    pred[out["mask"] == 0] += 100.0
    moved = ((((pred - t) ** 2).mean(-1)) * out["mask"]).sum() / out["mask"].sum()
    assert torch.allclose(moved, expected)


def test_loss_falls_when_fitting_one_batch_of_shapes():
    from detectron2.data import DatasetCatalog

    from scratchdet.data import build_mapper

    cfg = load_config_file(MAE_CFG, SMALL)
    mapper = build_mapper(cfg, is_train=False)
    batch = [mapper(d) for d in DatasetCatalog.get("shapes_train")[:8]]
    torch.manual_seed(0)
    m = build_model(cfg).train()
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = m(batch)["loss_mae"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses


def test_encoder_weights_map_onto_the_vitdet_backbone():
    mae = _model()
    det = build_model(load_config_file(DET_CFG, ["MODEL.VIT.IMG_SIZE", "64", "MODEL.VIT.PRETRAIN_IMG_SIZE", "64"]))
    src = map_keys({k: v for k, v in mae.state_dict().items() if k.startswith("encoder.")}, [["encoder.", "backbone.net."]])
    tgt = det.state_dict()
    assert src, "no encoder weights"
    for k, v in src.items():
        assert k in tgt and tgt[k].shape == v.shape, k
    # What the detector has in its ViT and MAE does not: only the relative position terms.
    missing = {k for k in tgt if k.startswith("backbone.net.") and k not in src}
    assert missing and all("rel_pos" in k for k in missing), sorted(missing)[:5]


def test_reconstruction_keeps_visible_patches():
    m = _model().eval()
    from scratchdet.data import build_mapper

    cfg = load_config_file(MAE_CFG, SMALL)
    from detectron2.data import DatasetCatalog

    inputs = [build_mapper(cfg, is_train=False)(d) for d in DatasetCatalog.get("shapes_train")[:2]]
    out = m.reconstruct(inputs, seed=3)
    orig, rec, mask = out["original"], out["reconstruction"], out["mask"]
    assert orig.shape == rec.shape == (2, 3, 64, 64)
    assert torch.allclose(orig, torch.stack([x["image"].float() for x in inputs]), atol=1e-3)
    vis = (1 - mask)[..., None]
    assert torch.allclose(m.patchify(rec) * vis, m.patchify(orig) * vis, atol=1e-3)


def test_encoder_position_terms_are_the_fixed_sincos_table_by_default():
    m = _model()
    pos = m.encoder.pos_embed
    n = 8 * 8  # 64 px / patch 8
    assert not pos.requires_grad
    assert torch.allclose(pos[0, -n:], sincos_position_embedding(pos.shape[-1], 8, 8))
    assert pos not in {p for p in m.parameters() if p.requires_grad}  # no optimizer moves it
    learned = _model("SCRATCHDET.MAE.FIXED_SINCOS_POS", "False")
    assert learned.encoder.pos_embed.requires_grad
    assert not torch.allclose(learned.encoder.pos_embed[0, -n:], pos[0, -n:])
