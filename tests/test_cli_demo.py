"""gisaxs-cnn demo: the canonical table and montage, then realistic detector frames through the file path."""
from __future__ import annotations

import json

from xicam_gisaxs_cnn.cli import main


def test_demo_classifies_canonical_patterns_then_detector_files_as_classify_does(tmp_path, capsys):
    montage, folder = tmp_path / "montage.png", tmp_path / "frames"
    assert main(["demo", "--per-class", "1", "--degradations", "clean", "--frames", "2", "--seed", "7",
                 "--output", str(montage), "--frames-output", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "accuracy: " in out and montage.stat().st_size > 0
    files = sorted(folder.glob("000*"))
    assert [path.suffix for path in files] == [".tif", ".edf"]  # 7 % 7 = 0: SC100 at 100 nm, then SC110 at 50 nm
    assert [path.name for path in files] == ["0000_SC100_100nm.tif", "0001_SC110_50nm.edf"]
    assert (folder / "frames.png").stat().st_size > 0
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("000")}
    right = 0
    for path in files:
        words = lines[path.name]
        true, beam_stop, label, scale = words[1], words[3:7], words[7], float(words[9])
        assert main(["classify", "--json", "--beam-stop-px", *beam_stop, str(path)]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["label"] == label and abs(record["window_scale"] - scale) < 0.006
        assert words[-1] == ("yes" if label == true else "NO")
        right += label == true
    assert f"detector frames right: {right}/2" in out


def test_demo_refuses_a_negative_frame_count(capsys):
    assert main(["demo", "--frames", "-1"]) == 2
    assert "--frames must be >= 0" in capsys.readouterr().err
