"""The GUI plugin in the real Xi-cam main window, offscreen: open a run, run the workflow, read the result.

Xi-cam 2.4.6's window needs qtpy < 2.4 and qtconsole < 5.5, and its pyqtgraph 0.11
needs numpy < 1.24, which the rest of the project (bornagain) cannot share. The
test skips, saying so, outside a venv made with ``pip install -e .[gui,test]``.
Set ``GISAXS_CNN_SCREENSHOT`` to a PNG path to keep a screenshot of the window.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from packaging.version import Version

_PINS = {"numpy": "1.24", "qtpy": "2.4", "qtconsole": "5.5"}


def _unmet_gui_pins() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    unmet = []
    for package, ceiling in _PINS.items():
        try:
            if Version(version(package)) >= Version(ceiling):
                unmet.append(f"{package} {version(package)} (needs < {ceiling})")
        except PackageNotFoundError:
            unmet.append(f"{package} missing")
    return unmet


pytestmark = pytest.mark.skipif(
    bool(_unmet_gui_pins()),
    reason="the Xi-cam 2.4.6 GUI needs the gui extra in its own venv (pip install -e .[gui,test]); here: "
    + ", ".join(_unmet_gui_pins()),
)

SCREENSHOT = os.environ.get("GISAXS_CNN_SCREENSHOT")
MODEL = os.environ.get("GISAXS_CNN_GUI_MODEL")
"""Bundle name or directory to classify with (default: the untrained test bundle)."""


def _simulated_run(frames: np.ndarray, geometry):
    """A real databroker BlueskyRun of ``frames`` composed with event-model, as Xi-cam's browser opens it."""
    import event_model
    from databroker.in_memory import BlueskyInMemoryCatalog

    run = event_model.compose_run(metadata={"plan_name": "count", "geometry": geometry.to_dict()})
    stream = run.compose_descriptor(
        name="primary",
        data_keys={"pilatus_image": {"source": "simulated", "dtype": "array", "shape": list(frames.shape[1:])}},
    )
    events = [
        stream.compose_event(data={"pilatus_image": frame}, timestamps={"pilatus_image": time.time()}, seq_num=index)
        for index, frame in enumerate(frames, start=1)
    ]
    stop = run.compose_stop()
    documents = [("start", run.start_doc), ("descriptor", stream.descriptor_doc)]
    documents += [("event", event) for event in events] + [("stop", stop)]
    catalog = BlueskyInMemoryCatalog()
    catalog.upsert(run.start_doc, stop, lambda: iter(documents), (), {})
    return catalog[run.start_doc["uid"]]


def _displayed_parameters(tree) -> dict:
    """Name -> value of every parameter a pyqtgraph ParameterTree shows."""
    shown, items = {}, [tree.invisibleRootItem()]
    while items:
        item = items.pop()
        items.extend(item.child(index) for index in range(item.childCount()))
        if hasattr(item, "param"):
            shown[item.param.name()] = item.param.value()
    return shown


def _wait_for(app, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        app.processEvents()
        time.sleep(0.01)


@pytest.fixture(scope="module")
def main_window():
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from xicam.gui.windows.mainwindow import XicamMainWindow
    from xicam.plugins import Filters, manager

    collected = []
    manager.attach(lambda: collected.append(True), filter=Filters.COMPLETE)
    window = XicamMainWindow()
    window.resize(1400, 850)
    window.show()
    _wait_for(app, lambda: bool(collected), timeout_s=90)  # every plugin (operations, ingestors, ...) is in
    plugin = manager.get_plugin_by_name("gisaxs_cnn", "GUIPlugin")
    window.currentGUIPlugin = plugin
    app.processEvents()
    yield app, window, plugin
    window.close()


def test_main_window_opens_a_run_classifies_a_frame_and_shows_the_result(main_window, untrained_bundle):
    import math

    from simulated_frames import SMALL_DETECTOR, simulated_frame
    from xicam_gisaxs_cnn.models import resolve_bundle
    from xicam_gisaxs_cnn.operations.model_cache import classify_detector_frame

    app, window, plugin = main_window
    frames = np.stack([simulated_frame("BCC110", seed=1), simulated_frame("FCC111", seed=2)])
    window.open(_simulated_run(frames, SMALL_DETECTOR))  # what a double click in the data browser does
    assert plugin.frames.shape == (2, 250, 240)
    assert plugin.frame_step.filled_values["beam_centre_y_px"] == SMALL_DETECTOR.beam_centre_px[1]

    model = str(resolve_bundle(MODEL)) if MODEL else str(untrained_bundle)
    plugin.model_picker.choose(model)
    window.setStage(plugin.stages["Classify"])
    editor = plugin.workflow_editor
    editor.workflowview.setCurrentIndex(editor.workflowview.model().index(0, 0))  # show the geometry inputs
    app.processEvents()
    assert _displayed_parameters(editor.operationeditor)["beam_centre_y_px"] == SMALL_DETECTOR.beam_centre_px[1]
    plugin.frame_view.setCurrentIndex(1)
    editor.workflow_widget.run_button.click()
    _wait_for(app, lambda: plugin.last_result is not None, timeout_s=60)
    for _ in range(20):
        app.processEvents()

    # as `gisaxs-cnn classify`: the window scale chosen by the ensemble, the frame folded about qy = 0
    label, probabilities, ood_score, ood_flag, scale, _, _, saliency = classify_detector_frame(
        frames[1], geometry=SMALL_DETECTOR, model=model)
    panel = plugin.result_panel
    assert panel.label.text() == label
    shown = panel.displayed_probabilities()
    np.testing.assert_allclose([shown[name] for name in shown], probabilities, atol=5e-4)
    if math.isnan(ood_score):
        assert "OOD score unavailable" in panel.ood.text()  # e.g. the untrained bundle: no OOD statistics
    else:
        assert ("OUT OF DISTRIBUTION" in panel.ood.text()) == ood_flag
    assert "frame 1" in panel.source.text() and os.path.basename(model) in panel.source.text()
    assert f"window scale {scale:.3g}" in panel.source.text()
    shown_q = plugin.result_image.pattern.mapRectToParent(plugin.result_image.pattern.boundingRect())
    assert shown_q.width() == pytest.approx(2.0 / scale * 125 / 124)  # qy axis in nm^-1 at that scale
    np.testing.assert_allclose(np.flipud(plugin.result_image.saliency.image), saliency, rtol=1e-5, atol=1e-7)
    assert window.centralWidget().currentWidget() is plugin.result_image
    assert not editor.workflow_widget.run_button.isChecked()  # the run finished
    if SCREENSHOT:
        assert window.grab().save(SCREENSHOT)


def test_robustness_study_chosen_from_the_workflow_menu_degrades_then_classifies(main_window):
    from simulated_frames import SMALL_DETECTOR
    from xicam_gisaxs_cnn import degrade
    from xicam_gisaxs_cnn.frames import canonical_frame
    from xicam_gisaxs_cnn.operations.model_cache import classify_frame

    app, window, plugin = main_window
    editor = plugin.workflow_editor
    editor.workflow_widget.populateWorkflowMenu()
    choice = next(a for a in editor.workflow_widget.workflow_menu.actions() if a.text() == "robustness study")
    choice.trigger()
    assert editor.workflow.name == "robustness study"
    plugin.last_result = None
    editor.workflow_widget.run_button.click()
    _wait_for(app, lambda: plugin.last_result is not None, timeout_s=60)
    app.processEvents()

    scale = plugin.canonical[2]  # the pattern at the scale the classify step chooses, folded about qy = 0
    image, mask = canonical_frame(plugin.frames[1], geometry=SMALL_DETECTOR, window_scale=scale)
    np.testing.assert_array_equal(plugin.canonical[0], image)
    degraded = degrade.gaussian_noise(
        degrade.poisson_noise(degrade.rescale(degrade.smear(image, 1.0), 50), 1e6, rng=0), 0.1, rng=0
    )
    model = editor.workflow.operations[-1].filled_values["model"]
    label, probabilities, _, _, saliency = classify_frame(degraded, mask, model=model)
    shown = plugin.result_panel.displayed_probabilities()
    assert plugin.result_panel.label.text() == label
    np.testing.assert_allclose(list(shown.values()), probabilities, atol=5e-4)
    np.testing.assert_allclose(plugin.last_result["probabilities"], probabilities, rtol=1e-6)
    overlay = np.flipud(plugin.result_image.saliency.image)
    np.testing.assert_allclose(overlay, saliency, rtol=1e-5, atol=1e-7)
    clean_saliency = classify_frame(image, mask, model=model)[4]
    assert np.abs(overlay - clean_saliency).max() > 0.1  # the overlay explains the degraded pattern
    assert "robustness study" in plugin.result_panel.source.text()


def test_a_detector_file_opened_in_the_file_browser_becomes_a_run_with_its_geometry(main_window, tmp_path):
    from simulated_frames import SMALL_DETECTOR, simulated_frame
    from xicam.core.data import load_header
    from xicam_gisaxs_cnn.frames import write_frames

    app, window, plugin = main_window
    frames = np.stack([simulated_frame("SC100", seed=6)] * 3).astype(np.float32)
    path = write_frames(tmp_path / "scan.edf", frames, geometry=SMALL_DETECTOR)  # typed by our sniffer
    window.open(load_header(uris=[str(path)]))  # what a double click on the file does
    app.processEvents()
    np.testing.assert_array_equal(plugin.frames, frames)
    assert plugin.frame_step.filled_values["distance_mm"] == SMALL_DETECTOR.distance_mm
    assert "3 frame(s) of 250 x 240 px" in plugin.run_info.text()
