"""The GISAXS CNN GUI plugin for Xi-cam: open a run, look at its frames, classify one, read why.

Stages
------
Browse
    Xi-cam's data browser (left) and preview (top left) to open Bluesky runs or
    files; the run's frames with a frame slider (centre); the run and its geometry (right).
Classify
    The workflow editor with the ready-made "classify" (the frame's label at the
    window scale it chooses, as ``gisaxs-cnn classify``) and "robustness study"
    (the paper's degradations of that canonical pattern) workflows (left) and the
    model bundle picker (bottom left); the canonical pattern with the saliency
    overlay (centre); the predicted class, OOD flag, window scale and class
    probabilities (right).
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

from ..models import DETECTOR_FRAME_MODEL_NAME
from ..operations.frame_inputs import frame_inputs_of
from ..operations.model_cache import cached_model
from ..workflows import classify_workflow, robustness_workflow
from .runs import frames_from_run, geometry_from_run, image_field
from .widgets import FrameView, ModelPicker, ResultImage, ResultPanel

SIDE_PANEL_WIDTH_PX: int = 380
"""Widest the side panels grow, so the centre keeps most of the window."""


class GISAXSClassifierPlugin(GUIPlugin):
    """Classify nanoparticle superlattices from GISAXS frames inside Xi-cam."""

    name = "GISAXS CNN"

    def __init__(self) -> None:
        self.run = None
        self.frames: np.ndarray | None = None
        self.canonical: tuple[np.ndarray, np.ndarray, float] | None = None  # image, mask, window scale
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
        self.frame_step = classify.operations[0]  # holds the geometry; gives other workflows their canonical pattern
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
            for name, value in frame_inputs_of(geometry).items():
                self.frame_step.filled_values[name] = value
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
        workflow = self.workflow_editor.workflow
        try:
            frame = self.current_frame()
            inputs = {"frame": frame}
            self.canonical = None
            if "image" in workflow.operations[0].input_names:  # a workflow of the canonical pattern
                outputs = dict(zip(self.frame_step.output_names, self.frame_step(frame=frame)))
                self.canonical = outputs["image"], outputs["mask"], outputs["window_scale"]
                inputs.update(image=outputs["image"], mask=outputs["mask"])
        except ValueError as error:
            msg.notifyMessage(str(error), title="GISAXS CNN", level=msg.ERROR)
            self.workflow_editor._reset_run_button()
            return
        workflow.execute(
            executor=LocalExecutor(),
            callback_slot=self._result_ready,
            finished_slot=self.workflow_editor._reset_run_button,
            except_slot=self.workflow_editor._reset_run_button,
            **inputs,
        )

    def _result_ready(self, *results: dict) -> None:
        # Called in the worker thread with one outputs dict per end step (ours have one).
        threads.invoke_in_main_thread(self.show_result, results[0])

    def show_result(self, result: dict) -> None:
        """Display the classify step's outputs beside the canonical pattern they came from."""
        if "image" in result:
            image, mask, scale = result["image"], result["mask"], result["window_scale"]
        else:
            image, mask, scale = self.canonical
        last = self.workflow_editor.workflow.operations[-1]
        shipped = DETECTOR_FRAME_MODEL_NAME if "frame" in last.input_names else ""  # what an empty choice means
        classifier = cached_model(last.filled_values.get("model", "") or shipped)
        self.result_image.show_result(image, mask, result["saliency"], window_scale=scale)
        self.result_panel.show_result(
            result,
            source=(
                f"workflow {self.workflow_editor.workflow.name!r}, frame {self.frame_view.current_frame_index()}, "
                f"window scale {scale:.3g}, model {classifier.name} (sha256 {classifier.sha256[:12]})"
            ),
        )
        self.last_result = result
