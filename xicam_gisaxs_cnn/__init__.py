"""Xi-cam plugin: classify nanoparticle superlattices in GISAXS frames with CNNs.

Pure functions at the bottom (classes, canonical, physics, degrade, degrade_torch,
preprocess, frames); adapters on top (models, operations, gui, live, cli).
"""
