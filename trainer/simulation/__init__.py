"""GISAXS simulator of sphere superlattices on a substrate (the HipGISAXS replacement).

>>> import torch
>>> from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig, sample_parameters, simulate
>>> config = SimulationConfig()
>>> params = sample_parameters(torch.tensor([2, 5]), config, torch.Generator().manual_seed(0))
>>> simulate(params, config=config).shape
torch.Size([2, 125, 125])
"""
from .config import SimulationConfig
from .sampling import PARAMETER_NAMES, sample_parameters
from .simulator import SIMULATOR_VERSION, canonical_exit_angles, simulate, simulate_angles

__all__ = [
    "PARAMETER_NAMES",
    "SIMULATOR_VERSION",
    "SimulationConfig",
    "canonical_exit_angles",
    "sample_parameters",
    "simulate",
    "simulate_angles",
]
