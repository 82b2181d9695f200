"""The trainer of xicam-gisaxs-cnn (import name ``xicam_gisaxs_cnn_trainer``).

Simulation of training data, datasets (incl. HipGISAXS outputs), training,
evaluation and reports; it reuses the plugin's pure functions and writes weight
bundles the plugin loads.
"""
