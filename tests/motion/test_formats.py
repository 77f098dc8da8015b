"""One list of export formats, seen from three places that may not import each other: the
pipeline (no service code), the settings the API validates with, and the API's schema."""

from __future__ import annotations

from typing import get_args

import pytest

from api.schemas import ExportFormat
from pipeline.motion.formats import FORMATS, checked_formats
from shared.config import EXPORT_FORMATS


def test_the_pipeline_the_settings_and_the_api_know_the_same_formats():
    assert FORMATS == EXPORT_FORMATS == get_args(ExportFormat)


def test_formats_are_put_in_order_once_and_an_unknown_one_is_named():
    assert checked_formats(["csv", "bvh", "csv"]) == ("bvh", "csv")
    with pytest.raises(ValueError, match="unknown export format 'fbx'"):
        checked_formats(["bvh", "fbx"])
