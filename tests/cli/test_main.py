"""`dance-analyzer` as a user runs it: a real subprocess, exit codes, files, messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.clips import make_clip, probe


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def test_analyze_writes_the_five_files_the_motion_and_a_summary(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    done = run_cli("analyze", clip, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "annotated.mp4",
        "keypoints.json",
        "summary.json",
        "analysis.json",
        "angles.csv",
        "motion.bvh",
        "markers.trc",
        "world_landmarks.csv",
    }
    assert "music: the video has no audio track" in done.stdout
    assert "12 frames" in done.stdout and "pose detected in" in done.stdout
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["total_frames"] == 12


def test_export_chooses_the_motion_files_and_an_unknown_format_is_refused(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    done = run_cli("analyze", clip, "--out", str(tmp_path / "some"), "--export", "csv,BVH")
    assert done.returncode == 0, done.stderr
    made = {p.name for p in (tmp_path / "some").iterdir()}
    assert {"motion.bvh", "world_landmarks.csv"} <= made and "markers.trc" not in made
    done = run_cli("analyze", clip, "--out", str(tmp_path / "none"), "--export", "none")
    assert done.returncode == 0, done.stderr
    assert not {"motion.bvh", "markers.trc", "world_landmarks.csv"} & {
        p.name for p in (tmp_path / "none").iterdir()
    }
    done = run_cli("analyze", clip, "--out", str(tmp_path / "bad"), "--export", "bvh,fbx")
    assert done.returncode == 2
    assert "unknown export format 'fbx'; known: bvh, trc, csv" in done.stderr
    assert not (tmp_path / "bad").exists()


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=20)
    done = run_cli("analyze", clip, "--out", str(tmp_path / "out"))
    lines = [line for line in done.stderr.splitlines() if line.startswith("progress ")]
    assert lines[-1].startswith("progress 100% (20/20 frames")
    assert "\r" not in done.stderr


def test_bad_input_exits_2_with_the_code_and_message(tmp_path):
    (tmp_path / "x.mp4").write_text("not a video")
    done = run_cli("analyze", str(tmp_path / "x.mp4"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "error: not_a_video:" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_file_exits_2(tmp_path):
    done = run_cli("analyze", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "no such file" in done.stderr


def test_confidence_outside_0_to_1_is_refused(tmp_path):
    done = run_cli("analyze", "x.mp4", "--out", str(tmp_path), "--min-detection-confidence", "3")
    assert done.returncode == 2
    assert "between 0 and 1" in done.stderr


def test_sample_writes_a_clip_that_analyzes_with_a_person(tmp_path):
    assert run_cli("sample", str(tmp_path / "s.mp4"), "--seconds", "1").returncode == 0
    done = run_cli("analyze", str(tmp_path / "s.mp4"), "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["detection_rate"] >= 0.9


@pytest.fixture(scope="module")
def performances(tmp_path_factory):
    """`analyze` output folders: the astronaut twice (the second from a copy of the clip), and
    another photo moving the same way."""
    folder = tmp_path_factory.mktemp("performances")
    dancer = make_clip(folder / "dancer.mp4", frames=45, fps=15)
    other = make_clip(folder / "other.mp4", person="camera", frames=45, fps=15)
    # MediaPipe's own filter, as these cases were set up with: the two photos' poses are so
    # unlike that without it the comparison finds under 1 s in common (not_comparable)
    for name, clip in (("ref", dancer), ("same", dancer), ("other", other)):
        out = str(folder / name)
        done = run_cli("analyze", clip, "--out", out, "--quiet", "--smoothing", "none")
        assert done.returncode == 0, done.stderr
    return folder


def test_compare_scores_a_performance_against_itself_and_a_different_one(performances, tmp_path):
    same = run_cli(
        "compare",
        str(performances / "ref"),
        str(performances / "same"),
        "--out",
        str(tmp_path / "c1"),
    )
    assert same.returncode == 0, same.stderr
    report = json.loads((tmp_path / "c1" / "comparison.json").read_text())
    assert report["schema_version"] == 2
    assert report["score"] >= 99 and report["similarity"] == report["score"]
    assert report["mirror_decision"]["mode"] == "auto" and report["mirror"] is False
    scores = report["scores"]
    lines = same.stdout.splitlines()
    assert lines[0] == (
        f"score {report['score']:.1f} / 100 (pose {scores['pose']:.1f}, "
        f"timing {scores['timing']:.1f}, amplitude {scores['amplitude']:.1f})"
    )
    assert f"coverage {report['coverage']:.0%}" in lines
    assert any(line.startswith(f"timing: {report['timing']['verdict']} (") for line in lines)
    counts = report["judgements"]["counts"]
    assert f"perfect {counts['perfect']}, good {counts['good']}" in same.stdout
    assert lines[-3:] == [
        "files:",
        f"  {tmp_path / 'c1' / 'comparison.json'}",
        f"  {tmp_path / 'c1' / 'comparison.mp4'}",
    ]
    video = probe(tmp_path / "c1" / "comparison.mp4")
    assert (video["codec"], video["frames"]) == ("h264", report["video"]["frames"])

    different = run_cli(
        "compare",
        str(performances / "ref"),
        str(performances / "other"),
        "--out",
        str(tmp_path / "c2"),
        "--no-video",
    )
    assert different.returncode == 0, different.stderr
    other = json.loads((tmp_path / "c2" / "comparison.json").read_text())
    assert other["score"] < report["score"] - 10
    assert other["video"] is None and not (tmp_path / "c2" / "comparison.mp4").exists()
    assert "comparison.mp4" not in different.stdout
    assert "feedback:" in different.stdout
    for item in other["feedback"]:
        assert f"  {item['text']}" in different.stdout.splitlines()


@pytest.mark.parametrize(
    ("flags", "mode"), [([], "auto"), (["--mirror"], "on"), (["--mirror", "off"], "off")], ids=str
)
def test_compare_mirror_is_auto_on_or_off(performances, tmp_path, flags, mode):
    done = run_cli(
        "compare",
        *flags,
        str(performances / "ref"),
        str(performances / "same"),
        "--out",
        str(tmp_path),
        "--no-video",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "comparison.json").read_text())
    assert report["mirror_decision"]["mode"] == mode
    assert report["mirror"] is (mode == "on")  # auto keeps the better match: not mirrored
    assert ("the attempt was mirrored" in done.stdout) is (mode == "on")


def test_compare_refuses_a_mirror_mode_it_does_not_know(performances, tmp_path):
    folders = (str(performances / "ref"), str(performances / "ref"), "--out", str(tmp_path))
    named = run_cli("compare", *folders, "--mirror=sometimes")
    assert named.returncode == 2
    assert "invalid choice: 'sometimes'" in named.stderr
    # a bare --mirror is on: what follows it is not its value unless it is auto, on or off
    after = run_cli("compare", *folders, "--mirror", "sometimes")
    assert after.returncode == 2
    assert "unrecognized arguments: sometimes" in after.stderr
    assert not (tmp_path / "comparison.json").exists()


def test_compare_refuses_a_folder_without_keypoints(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "keypoints.json").write_text("{not json")
    missing = run_cli("compare", str(tmp_path / "empty"), str(tmp_path / "empty"), "--out", "x")
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: input_missing: no keypoints.json in {tmp_path}")
    broken = run_cli("compare", str(tmp_path / "bad"), str(tmp_path / "bad"), "--out", "x")
    assert broken.returncode == 2
    assert broken.stderr.startswith("error: bad_keypoints: ")
    assert "not a keypoints file" in broken.stderr and "Traceback" not in broken.stderr


def test_max_people_follows_each_dancer_of_a_duo(tmp_path):
    assert (
        run_cli("sample", str(tmp_path / "duo.mp4"), "--duo", "--size", "640x240").returncode == 0
    )
    done = run_cli(
        "analyze", str(tmp_path / "duo.mp4"), "--out", str(tmp_path / "out"), "--max-people", "2"
    )
    assert done.returncode == 0, done.stderr
    assert "2 dancers (2 at most in a frame): #1 in" in done.stdout
    group = json.loads((tmp_path / "out" / "analysis.json").read_text())["group"]
    if group["score"] is not None:  # the two photos drift alike: how alike their poses are
        assert f"group in step {group['score']:.0f}/100" in done.stdout
    keypoints = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert keypoints["schema_version"] == 4
    both = sum(len(frame["people"]) == 2 for frame in keypoints["frames"])
    assert both >= 0.9 * len(keypoints["frames"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [person["id"] for person in summary["people"]] == [1, 2]


def test_max_people_outside_1_to_8_is_refused(tmp_path):
    for value in ("0", "9", "two"):
        done = run_cli("analyze", "x.mp4", "--out", str(tmp_path), "--max-people", value)
        assert done.returncode == 2
        assert "--max-people" in done.stderr and "Traceback" not in done.stderr
