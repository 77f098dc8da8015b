"""The hand-checked dancer labels (`bench/dancer_labels/`) are well formed and fit their clips:
frames within the clip, positive ids, boxes inside the frame, no id twice in a frame, and each
clip's expected dancers."""

from __future__ import annotations

import av
import pytest

from bench.dancer_labels import DANCERS, LABELS_DIR, Label, read_labels, write_labels
from tests.clips import shared_file

# the labelled clips: their dancers' ids (ignore regions, conf 0, have ids of their own)
EXPECTED_DANCERS = {
    "bachata_cross_body_lead": {1, 2},
    "bachata_hammerlock": {1, 2},
    "bachata_shadow": {1, 2},
    "pair_phone": {1, 2},
    "ballet_recital": {1, 2},
    "line_dance_crowd": {1, 2, 3},
    "folk_group": {1},
}
# clips labelled only up to a frame (see bench/dancer_labels/README.md)
LABELLED_UNTIL = {"folk_group": 131}
TOLERANCE = 3  # px a box may pass the frame's edge


def labelled_clips() -> list[str]:
    return sorted(path.stem for path in LABELS_DIR.glob("*.csv"))


def test_every_label_file_is_an_expected_clip():
    assert labelled_clips() == sorted(EXPECTED_DANCERS)
    for clip in labelled_clips():
        assert (LABELS_DIR / f"{clip}.frames").exists(), clip


@pytest.mark.parametrize("clip", sorted(EXPECTED_DANCERS))
def test_labels_are_well_formed(clip):
    labels = read_labels(clip)
    assert labels, clip
    dancers = set()
    for frame, found in labels.items():
        assert frame >= 1
        ids = [label.id for label in found]
        assert len(ids) == len(set(ids)), f"{clip} frame {frame}: an id twice"
        for label in found:
            assert isinstance(label.id, int) and label.id > 0
            assert label.conf in (0.0, 1.0)
            assert 0.0 <= label.visibility <= 1.0
            assert label.box[2] > 0 and label.box[3] > 0
            if label.conf == 1:
                dancers.add(label.id)
    assert dancers == EXPECTED_DANCERS[clip]
    # every 10th frame from the first is labelled
    assert set(range(1, max(labels) + 1, 10)) <= set(labels)


@pytest.mark.parametrize("clip", sorted(EXPECTED_DANCERS))
def test_labels_fit_the_clip(clip):
    path = shared_file(DANCERS / f"{clip}.mp4")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        frames = sum(1 for _ in container.decode(video=0))
    labels = read_labels(clip)
    assert max(labels) <= frames, f"{clip}: frame {max(labels)} of {frames}"
    if clip in LABELLED_UNTIL:
        assert max(labels) == LABELLED_UNTIL[clip]
    else:
        assert max(labels) > frames - 10  # the every-10th sampling runs to the clip's end
    for frame, found in labels.items():
        for label in found:
            left, top, w, h = label.box
            assert left >= -TOLERANCE and top >= -TOLERANCE, (clip, frame, label)
            assert left + w <= width + TOLERANCE, (clip, frame, label)
            assert top + h <= height + TOLERANCE, (clip, frame, label)


def test_labels_round_trip(tmp_path):
    labels = {
        1: [Label(2, (10.0, 20.0, 30.0, 40.0), 1.0, 0.5), Label(1, (1.0, 2.0, 3.0, 4.0), 1.0, 1.0)],
        11: [],
        12: [Label(91, (0.0, 0.0, 5.0, 5.0), 0.0, 0.0)],
    }
    write_labels("clip", labels, tmp_path, note="a test")
    back = read_labels("clip", tmp_path)
    assert sorted(back) == [1, 11, 12]
    assert back[11] == []
    assert sorted(back[1]) == sorted(labels[1])
    assert back[12] == labels[12]


def test_rows_on_an_unlisted_frame_are_refused(tmp_path):
    write_labels("clip", {1: [Label(1, (1.0, 2.0, 3.0, 4.0), 1.0, 1.0)]}, tmp_path)
    with open(tmp_path / "clip.csv", "a") as f:
        f.write("5,1,1,2,3,4,1,1,1\n")
    with pytest.raises(ValueError, match="not listed"):
        read_labels("clip", tmp_path)
