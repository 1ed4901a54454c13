#!/usr/bin/env python
"""Run a trained model on images, folders or videos and write what it found.

    python tools/predict.py --config-file OUT/config.yaml --weights OUT/model_best.pth --input PATH --output DIR \
        [--score-thresh 0.5] [--batch-size 4] [KEY VALUE ...]

PATH is an image, a folder (searched recursively for .jpg .jpeg .png .bmp .tif .tiff .webp; 16-bit
and float images read with their contrast, SCRATCHDET.DATA.HIGH_BIT_DEPTH) or a video (.mp4 .avi
.mov .mkv .webm, every frame). DIR gets one drawn image per input (boxes, masks, class and score;
the input's folder structure kept; a video becomes DIR/<name>.mp4) and predictions.json: COCO-format
results with the file names (and frame numbers). Uses scratchdet's configs and registered models
(detectron2's demo.py cannot read SCRATCHDET.* keys). An input that cannot be read is named on
one line and skipped; the rest are processed and counted.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--weights", required=True, help="a checkpoint of the config's model (model_best.pth, ...)")
    ap.add_argument("--input", required=True, help="an image, a folder of images (recursive) or a video")
    ap.add_argument("--output", required=True, help="folder for the drawn images and predictions.json")
    ap.add_argument("--score-thresh", type=float, default=0.5, help="detections below this score are dropped")
    ap.add_argument("--batch-size", type=int, default=4, help="images per forward pass")
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return ap.parse_args(argv)


def collect_inputs(path: str) -> list[str]:
    """The files to process: ``path`` itself, or every image and video under the folder (sorted)."""
    from scratchdet.config.errors import ConfigError
    from scratchdet.data.datasets.unlabelled import IMAGE_EXTENSIONS

    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ConfigError(f"--input {path}: no such file or folder.")
    found = sorted(os.path.join(root, f) for root, _, files in os.walk(path) for f in files
                   if f.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS))
    if not found:
        raise ConfigError(f"--input {path}: no images or videos in it ({', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}).")
    return found


def _frames(video: str):
    import cv2

    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise OSError("not a video OpenCV can open")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    k = 0
    try:
        while True:
            ok, frame = cap.read()  # BGR
            if not ok:
                break
            yield k, frame, fps
            k += 1
    finally:
        cap.release()
    if k == 0:
        raise OSError("no frame could be decoded")


def main(args: argparse.Namespace) -> dict:
    import cv2
    import numpy as np
    from detectron2.data import MetadataCatalog
    from detectron2.utils.visualizer import ColorMode, Visualizer
    from tqdm import tqdm

    import scratchdet  # noqa: F401  (registration)
    from scratchdet.config import load_config_file
    from scratchdet.config.errors import ConfigError
    from scratchdet.data.read_image import high_bit_depth_from_config, read_image_file
    from scratchdet.engine.inference.predictor import BatchPredictor, coco_results, dataset_category_ids
    from scratchdet.engine.setup.plan import resolve_config
    from scratchdet.io.atomic import atomic_write_json

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size}: use 1 or more.")
    files = collect_inputs(args.input)
    cfg = load_config_file(args.config_file, [*args.opts, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", str(args.score_thresh),
                                              "MODEL.RETINANET.SCORE_THRESH_TEST", str(args.score_thresh)])
    cfg = resolve_config(cfg)
    predictor = BatchPredictor(cfg, args.weights)
    classes, cat_ids = dataset_category_ids(cfg)
    meta = MetadataCatalog.get("__scratchdet_predict")
    if classes and not meta.get("thing_classes"):
        meta.thing_classes = classes
    fmt, hbd = cfg.INPUT.FORMAT, high_bit_depth_from_config(cfg)
    base = args.input if os.path.isdir(args.input) else os.path.dirname(args.input)
    os.makedirs(args.output, exist_ok=True)
    results, failed, done, images_done = [], [], 0, 0

    def draw(image_fmt: np.ndarray, inst) -> np.ndarray:
        rgb = image_fmt[:, :, ::-1] if fmt == "BGR" else image_fmt
        vis = Visualizer(rgb, meta, instance_mode=ColorMode.IMAGE).draw_instance_predictions(inst)
        return vis.get_image()[:, :, ::-1]  # BGR for cv2

    def out_path(f: str, ext: str) -> str:
        rel = os.path.relpath(f, base) if base else os.path.basename(f)
        p = os.path.join(args.output, os.path.splitext(rel)[0] + ext)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def flush(batch: list[tuple[str, np.ndarray]]) -> None:
        nonlocal images_done
        for (f, img), inst in zip(batch, predictor([im for _, im in batch])):
            images_done += 1
            results.extend(coco_results(inst, images_done, cat_ids, file_name=os.path.relpath(f, base or ".")))
            cv2.imwrite(out_path(f, ".png"), draw(img, inst))

    batch: list[tuple[str, np.ndarray]] = []
    for f in tqdm(files, desc="predict", unit="file"):
        if f.lower().endswith(VIDEO_EXTENSIONS):
            writer = None
            try:
                for k, frame, fps in _frames(f):
                    img = frame if fmt == "BGR" else frame[:, :, ::-1]
                    inst = predictor([img])[0]
                    images_done += 1
                    results.extend(coco_results(inst, images_done, cat_ids, file_name=os.path.relpath(f, base or "."),
                                                frame=k))
                    drawn = draw(img, inst)
                    if writer is None:
                        writer = cv2.VideoWriter(out_path(f, ".mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                                 (drawn.shape[1], drawn.shape[0]))
                    writer.write(drawn)
                done += 1
            except OSError as e:
                failed.append(f)
                tqdm.write(f"scratchdet: cannot read video {f}: {e}; skipped.")
            finally:
                if writer is not None:
                    writer.release()
            continue
        try:
            batch.append((f, read_image_file(f, fmt, hbd)))
            done += 1
        except Exception as e:  # a corrupt or unreadable file: named, skipped, counted
            failed.append(f)
            tqdm.write(f"scratchdet: {str(e).splitlines()[0]} Skipped.")
            continue
        if len(batch) >= args.batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    atomic_write_json(results, os.path.join(args.output, "predictions.json"))
    summary = {"inputs": len(files), "processed": done, "failed": failed, "images": images_done,
               "detections": len(results)}
    print(f"predict: {done} of {len(files)} inputs processed ({images_done} images/frames, {len(results)} detections), "
          f"{len(failed)} could not be read; results in {os.path.join(args.output, 'predictions.json')}")
    return summary


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, parse())
