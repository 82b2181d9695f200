"""The Xi-cam GUI plugin: browse runs, see frames, edit and run the workflows, read the class.

Registered under the ``xicam.plugins.GUIPlugin`` entry point as ``gisaxs_cnn``
(:class:`xicam_gisaxs_cnn.gui.plugin.GISAXSClassifierPlugin`). Needs the ``gui``
extra (Xi-cam 2.4.6 with its pyqtgraph 0.11, which wants numpy < 1.24).
"""
