"""The GISAXS CNN GUI plugin for Xi-cam: open a run, look at its frames, classify one, read why.

Stages
------
Browse
    Xi-cam's data browser (left) and preview (top left) to open Bluesky runs or
    files; the run's frames with a frame slider (centre); the run and its geometry (right).
Classify
    The workflow editor with the ready-made "classify" and "robustness study"
    workflows (left) and the model bundle picker (bottom left); the canonical
    pattern with the saliency overlay (centre); the predicted class, OOD flag
    and class probabilities (right).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from qtpy.QtWidgets import QLabel
from xicam.core import msg, threads
from xicam.core.execution.localexecutor import LocalExecutor
from xicam.gui.widgets.linearworkfloweditor import WorkflowEditor
from xicam.plugins import GUILayout, GUIPlugin
from xicam.plugins.guiplugin import PanelState

from ..operations.model_cache import cached_model
from ..operations.preprocess_frame import preprocess_frame
from ..workflows import classify_workflow, robustness_workflow
from .runs import frames_from_run, geometry_from_run, image_field, preprocess_inputs
from .widgets import FrameView, ModelPicker, ResultImage, ResultPanel

SIDE_PANEL_WIDTH_PX: int = 380
"""Widest the side panels grow, so the centre keeps most of the window."""


class GISAXSClassifierPlugin(GUIPlugin):
    """Classify nanoparticle superlattices from GISAXS frames inside Xi-cam."""

    name = "GISAXS CNN"

    def __init__(self) -> None:
        self.run = None
        self.frames: np.ndarray | None = None
        self.canonical: tuple[np.ndarray, np.ndarray] | None = None
        self.frame_view = FrameView()
        self.run_info = QLabel("Open a Bluesky run or a detector file from the data browser.")
        self.run_info.setWordWrap(True)
        self.result_image = ResultImage()
        self.result_panel = ResultPanel()
        self.model_picker = ModelPicker()
        for side_panel in (self.run_info, self.result_panel, self.model_picker):
            side_panel.setMaximumWidth(SIDE_PANEL_WIDTH_PX)

        self.last_result: dict | None = None
        classify, robustness = classify_workflow(), robustness_workflow()
        self.preprocess = classify.operations[0]
        self.workflow_editor = WorkflowEditor(
            classify, workflows={classify: classify.name, robustness: robustness.name}
        )
        self.workflow_editor.setMaximumWidth(SIDE_PANEL_WIDTH_PX)
        self.workflow_editor.sigRunWorkflow.connect(self.run_workflow)
        self.model_picker.sigModelChanged.connect(self.set_model)

        self.stages = OrderedDict(
            Browse=GUILayout(
                center=self.frame_view, left=PanelState.Defaulted, lefttop=PanelState.Defaulted, right=self.run_info
            ),
            Classify=GUILayout(
                center=self.result_image,
                left=self.workflow_editor,
                lefttop=PanelState.Disabled,
                leftbottom=self.model_picker,
                right=self.result_panel,
            ),
        )
        super().__init__()

    # -- data in -------------------------------------------------------------------------------
    def appendCatalog(self, catalog: Any, **kwargs: Any) -> None:
        """Load a Bluesky run (databroker ``BlueskyRun``) opened in Xi-cam's data browser."""
        self.run = catalog
        self.frames = frames_from_run(catalog)
        geometry = geometry_from_run(catalog)
        if geometry is not None:
            for name, value in preprocess_inputs(geometry).items():
                self.preprocess.filled_values[name] = value
        start = catalog.metadata["start"]
        self.frame_view.show_frames(self.frames)
        self.run_info.setText(
            f"Run {start['uid'][:8]} ({start.get('plan_name', 'no plan name')})\n"
            f"field {image_field(catalog)!r}: {self.frames.shape[0]} frame(s) of "
            f"{self.frames.shape[1]} x {self.frames.shape[2]} px\n"
            + (f"geometry: {geometry.to_dict()}" if geometry else "no geometry in the run: set it in the workflow")
        )

    # -- model ---------------------------------------------------------------------------------
    def set_model(self, model: str) -> None:
        """Use bundle ``model`` (directory or name, "" for the default) in every classify step."""
        for workflow in self.workflow_editor.workflows:
            for operation in workflow.operations:
                if "model" in operation.input_names:
                    operation.filled_values["model"] = model

    # -- running -------------------------------------------------------------------------------
    def current_frame(self) -> np.ndarray:
        if self.frames is None:
            raise ValueError("no run is open: open a Bluesky run or a detector file first")
        return self.frames[self.frame_view.current_frame_index()]

    def run_workflow(self) -> None:
        """Run the workflow shown in the editor on the frame shown in the frame viewer."""
        if not self.workflow_editor.workflow_widget.run_button.isChecked():
            return  # the button was un-checked: nothing is left to start
        try:
            frame = self.current_frame()
            image, mask = self.preprocess(frame=frame)
        except ValueError as error:
            msg.notifyMessage(str(error), title="GISAXS CNN", level=msg.ERROR)
            self.workflow_editor._reset_run_button()
            return
        self.canonical = image, mask
        self.workflow_editor.workflow.execute(
            executor=LocalExecutor(),
            callback_slot=self._result_ready,
            finished_slot=self.workflow_editor._reset_run_button,
            except_slot=self.workflow_editor._reset_run_button,
            frame=frame,
            image=image,
            mask=mask,
        )

    def _result_ready(self, *results: dict) -> None:
        # Called in the worker thread with one outputs dict per end step (ours have one).
        threads.invoke_in_main_thread(self.show_result, results[0])

    def show_result(self, result: dict) -> None:
        """Display the classify step's outputs beside the canonical pattern they came from."""
        image, mask = self.canonical
        model = self.workflow_editor.workflow.operations[-1].filled_values.get("model", "")
        classifier = cached_model(model)
        self.result_image.show_result(image, mask, result["saliency"])
        self.result_panel.show_result(
            result,
            source=(
                f"workflow {self.workflow_editor.workflow.name!r}, frame {self.frame_view.current_frame_index()}, "
                f"model {classifier.name} (sha256 {classifier.sha256[:12]})"
            ),
        )
        self.last_result = result
