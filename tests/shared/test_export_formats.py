"""The export formats are one list (`shared.outputs`): the pipeline, the CLI and the job
options check against it (`checked_formats`), the API validates with it, and each format names
its files from it."""

from __future__ import annotations

import pytest

from shared.config import settings
from shared.job_options import SettledOptions
from shared.outputs import (
    BVH,
    EXPORT_FORMATS,
    MOTION_FORMATS,
    WORLD_CSV,
    checked_formats,
    motion_format,
)


def test_one_list_of_formats_and_each_names_its_files():
    assert EXPORT_FORMATS == tuple(fmt.name for fmt in MOTION_FORMATS) == ("bvh", "trc", "csv")
    assert BVH.file_name() == "motion.bvh"
    assert BVH.file_name(2) == "motion_person2.bvh"
    assert motion_format("trc").file_name(3) == "markers_person3.trc"
    assert WORLD_CSV.file_name(2) == "world_landmarks.csv"  # everyone in one file


def test_formats_are_put_in_order_once_and_an_unknown_one_is_named():
    assert checked_formats(["csv", "bvh", "csv"]) == ("bvh", "csv")
    with pytest.raises(ValueError, match="unknown export format 'fbx'"):
        checked_formats(["bvh", "fbx"])


def test_settled_options_put_their_formats_in_order_and_refuse_an_unknown_one():
    settled = SettledOptions.from_row({"exports": ["csv", "bvh", "csv"]}, settings)
    assert settled.exports == ("bvh", "csv")
    with pytest.raises(ValueError, match="unknown export format 'fbx'"):
        SettledOptions.from_row({"exports": ["bvh", "fbx"]}, settings)
