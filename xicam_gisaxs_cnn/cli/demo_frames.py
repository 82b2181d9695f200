"""The detector-frame half of ``gisaxs-cnn demo``: realistic Pilatus 1M frames of large lattices,
written to files and classified as ``gisaxs-cnn classify FILE`` does."""
from __future__ import annotations

from pathlib import Path

DEMO_LATTICES_NM: tuple[float, ...] = (100.0, 50.0, 150.0)
"""Nearest-neighbour distances of the demo's frames, nm, cycled: real superlattices, far
outside the 12-35 nm the canonical window holds at window scale 1."""

DEMO_TOTAL_COUNTS: float = 1e6
"""Photons on the whole detector in each demo frame (a short exposure of a good film)."""

DEMO_GRAIN_CELLS: dict[str, float] = {"repetitions_lateral": 20.0, "repetitions_vertical": 5.0}
"""Grain size of the demo's films, unit cells wide and high."""


def classify_demo_frames(count: int, *, seed: int, folder: Path, picture: Path) -> None:
    """Write ``count`` realistic frames into ``folder``, classify each file, print a table, save ``picture``.

    The classes are cycled from a seed-dependent start and the lattices over
    :data:`DEMO_LATTICES_NM`; each frame is a TIFF, EDF, CBF or NeXus file in turn with its
    geometry in the header. Each file is classified exactly as ``gisaxs-cnn classify
    --beam-stop-px X0 X1 Y0 Y1 FILE`` does with the frame's beam stop (the shipped ``frames``
    model, ``--window-scale ensemble``), so that command prints the same label, scale and OOD
    score; the picture shows the canonical image at the scale the ensemble recorded.
    """
    import numpy as np

    from xicam_gisaxs_cnn_trainer.realistic.evaluate import classify_realistic, frame_path
    from xicam_gisaxs_cnn_trainer.realistic.frames import realistic_frame, sample_instrument

    from ..classes import CLASS_NAMES
    from ..frames.classify import canonical_frame
    from ..frames.scale import DETECTOR_FRAME_WINDOW_SCALE
    from ..models import DETECTOR_FRAME_MODEL_NAME, load_model
    from ..plotting import montage

    classifier = load_model(DETECTOR_FRAME_MODEL_NAME)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ndetector frames (Pilatus 1M, {DEMO_TOTAL_COUNTS:.0e} photons each) in {folder}; each line as "
          f"`gisaxs-cnn classify --beam-stop-px X0 X1 Y0 Y1 FILE` finds it: model {classifier.name} "
          f"(sha256 {classifier.sha256[:12]}), --window-scale ensemble")
    header = (f"{'file':<26} {'true':<8} {'lattice':>8} {'beam stop px':<18} {'predicted':<9} {'p(pred)':>7} "
              f"{'scale':>6} {'nn/25nm':>7} {'OOD':>6} flag ok")
    print(header)
    print("-" * len(header))
    images, titles, colors, right = [], [], [], 0
    for index in range(count):
        kind = CLASS_NAMES[(seed + index) % len(CLASS_NAMES)]
        nn_distance_nm = DEMO_LATTICES_NM[index % len(DEMO_LATTICES_NM)]
        rng = np.random.default_rng(seed + index)
        frame = realistic_frame(kind, nn_distance_nm=nn_distance_nm, seed=seed + index, overrides=DEMO_GRAIN_CELLS,
                                instrument=sample_instrument(rng, total_counts=DEMO_TOTAL_COUNTS))
        record = classify_realistic(frame, frame_path(folder, index, kind, nn_distance_nm), classifier=classifier,
                                    window_scale=DETECTOR_FRAME_WINDOW_SCALE)
        if record["error"]:
            print(f"{record['file']:<26} {kind:<8} {nn_distance_nm:>6g}nm refused: {record['error']}")
            continue
        label, probability, scale = record["label"], record["probability"], record["window_scale"]
        correct = label == kind
        right += correct
        flag = "OOD" if record["ood_flag"] else ""
        beam_stop = " ".join(str(value) for value in frame.beam_stop_px)
        print(f"{record['file']:<26} {kind:<8} {nn_distance_nm:>6g}nm {beam_stop:<18} {label:<9} {probability:>7.3f} "
              f"{scale:>6.2f} {nn_distance_nm / 25:>7.2f} {record['ood_score']:>6.2f} {flag:<4} "
              f"{'yes' if correct else 'NO'}")
        images.append(canonical_frame(frame.counts, geometry=frame.geometry, window_scale=scale,
                                      beam_stop_px=frame.beam_stop_px)[0])
        titles.append(f"{kind} {nn_distance_nm:g} nm\n-> {label} {probability:.2f}, scale {scale:.2f}")
        colors.append("darkgreen" if correct else "red")
    print(f"detector frames right: {right}/{count}")
    if images:
        print(f"canonical images at the chosen scales written to "
              f"{montage(images, titles, picture, columns=len(images), title_colors=colors)}")
