"""The pose landmarker bundles of MediaPipe's Tasks API (`pose_landmarker_<model>.task`), built
offline from the BlazePose models: the detector and Full inside the pinned mediapipe wheel,
Lite and Heavy as `pipeline.pose.models` installed them. The Tasks `PoseLandmarker` follows
several people (`num_poses`), the legacy solution only one.

The bundle cannot be downloaded here and is never fetched at run time. It is two TFLite
models with the metadata the Tasks API reads, zipped uncompressed under the names it expects:

    pose_detector.tflite            pose_detection.tflite, input normalised to [-1, 1]
                                    (mean and std 127.5)
    pose_landmarks_detector.tflite  pose_landmark_<model>.tflite, input normalised to [0, 1]
                                    (mean 0, std 255)

The metadata is written with MediaPipe's own metadata writer (shipped in the wheel); the zip
has fixed timestamps and order, so the same models always give the same bytes
(`BUNDLE_SHA256` for each model, checked by the tests and on every use of a cached copy).

    python -m pipeline.pose.bundle [PATH [MODEL]]   build it (default: the cache, full)
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from pipeline.pose.models import require, sha256_of

BUNDLE_SHA256 = {
    "lite": "f8dc34389ee7632388bc2b60728b3fda09b57e282e9cea6d07df9a435dc04556",
    "full": "e2fffacb9c866e6c58881e234fa9e0e1d499a8c3812ddc0ab2549fb5f895bb3f",
    "heavy": "0a7bf95bfcacce70146a6b8320499912ec8afbe91e5086adf6d5f2f860185b7b",
}
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the zip format's first date: no build time in the bytes


def _wheel_models() -> Path:
    import mediapipe

    return Path(mediapipe.__file__).resolve().parent / "modules"


def _with_metadata(model: bytes, name: str, mean: float, std: float) -> bytes:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, "BlazePose, from the mediapipe wheel's own models")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for index in range(len(writer_utils.get_output_tensor_types(bytearray(model)))):
        writer.add_feature_output(name=f"output_{index}")
    return bytes(writer.populate()[0])


def bundle_name(model: str = "full") -> str:
    return f"pose_landmarker_{model}.task"


def build(path: str | os.PathLike, model: str = "full") -> str:
    """Write the bundle of `model` to `path` (atomically); returns its SHA-256."""
    from mediapipe.tasks.python.metadata.metadata_writers.model_asset_bundle_utils import (
        AlignZipFile,
    )

    models = _wheel_models()
    members = (
        (
            "pose_detector.tflite",
            _with_metadata(
                (models / "pose_detection" / "pose_detection.tflite").read_bytes(),
                "pose_detector",
                127.5,
                127.5,
            ),
        ),
        (
            "pose_landmarks_detector.tflite",
            _with_metadata(
                (models / "pose_landmark" / require(model).file_name).read_bytes(),
                "pose_landmarks_detector",
                0.0,
                255.0,
            ),
        ),
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    with AlignZipFile(partial, mode="w", alignment=4) as bundle:  # the Tasks API maps it
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            bundle.writestr(info, data)
    digest = sha256_of(partial)
    partial.replace(target)
    return digest


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dance-analyzer"


def bundle_path(cache_dir: str | os.PathLike | None = None, *, model: str = "full") -> Path:
    """The bundle of `model` in `cache_dir`, built on first use or when the cached copy does
    not match `BUNDLE_SHA256` (a partial write, another wheel); raises if a fresh build does
    not match either (the wheel is not the pinned one), or ModelUnavailable."""
    path = Path(cache_dir or default_cache_dir()) / bundle_name(model)
    expected = BUNDLE_SHA256[model]
    if path.is_file() and sha256_of(path) == expected:
        return path
    digest = build(path, model)
    if digest != expected:
        raise RuntimeError(
            f"{path}: built with SHA-256 {digest}, expected {expected}; "
            "is mediapipe the pinned 0.10.21?"
        )
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if target is None:
        print(bundle_path())
    else:
        print(f"{target} {build(target, sys.argv[2] if len(sys.argv) > 2 else 'full')}")
