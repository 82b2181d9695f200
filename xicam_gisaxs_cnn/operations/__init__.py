"""Xi-cam operation plugins: thin wrappers of the pure functions, one module per operation.

Each operation is a plain function under Xi-cam's real decorators
(:mod:`xicam.plugins.operationplugin`); its body calls one of this package's pure
functions and nothing else. They are registered under the ``xicam.plugins.OperationPlugin``
entry point group in ``setup.py``, so Xi-cam's plugin manager finds them after
``pip install``; :mod:`xicam_gisaxs_cnn.workflows` chains them into ready-made workflows.
Importing this package needs ``xicam`` (the ``xicam`` extra).
"""
