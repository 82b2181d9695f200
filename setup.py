"""Packaging for xicam-gisaxs-cnn: the Xi-cam plugin and its trainer."""
from setuptools import find_packages, setup

PLUGIN_PACKAGES = find_packages(include=["xicam_gisaxs_cnn", "xicam_gisaxs_cnn.*"])
# The trainer lives in ./trainer but installs under a name that belongs to this project.
TRAINER_PACKAGES = ["xicam_gisaxs_cnn_trainer"] + [
    "xicam_gisaxs_cnn_trainer." + name
    for name in find_packages(where="trainer")
]

CORE_REQUIRES = [
    "numpy>=1.23.5",  # 1.23.x for the Xi-cam GUI (see GUI_REQUIRES)
    "scipy>=1.10",
    "torch==2.13.0",  # CPU build on these machines; see README for a CUDA build
    "numba>=0.59",  # the CPU preprocessing, compiled (xicam_gisaxs_cnn/preprocess_kernel.py)
    "safetensors>=0.4",
    "fabio>=2023.4",
    "h5py>=3.8",
    "tifffile>=2023.1",
    "matplotlib>=3.7",
    "tqdm>=4.65",
    "platformdirs>=3.0",
    "dask[distributed]>=2024.1",  # gisaxs-cnn simulate --workers/--scheduler
]
XICAM_REQUIRES = ["xicam==2.4.6", "qtpy>=2.0"]
# The Xi-cam 2.4.6 main window needs older Qt helpers and pyqtgraph 0.11 (its pin) needs
# numpy < 1.24 (np.float); this conflicts with bornagain (numpy >= 1.26): use a separate venv.
GUI_REQUIRES = ["xicam==2.4.6", "qtpy>=2.0,<2.4", "qtconsole<5.5", "numpy<1.24", "event-model>=1.19"]
LIVE_REQUIRES = [
    "bluesky>=1.12",
    "event-model>=1.19",
    "ophyd>=1.9",
    "pyzmq>=25",
    "tiled[all]==0.2.20",
    "bluesky-tiled-plugins==2.0.12",
    "databroker==1.2.5",
]
VALIDATION_REQUIRES = ["bornagain==25.*"]
TEST_REQUIRES = ["pytest>=7.4", "hypothesis>=6.80", "pytest-timeout>=2.2", "stamina>=24"]

setup(
    name="xicam-gisaxs-cnn",
    version="0.1.0",
    description=(
        "Xi-cam plugin and trainer: classify nanoparticle superlattices "
        "(SC, BCC, FCC, HCP and their orientations) from GISAXS frames with CNNs"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=PLUGIN_PACKAGES + TRAINER_PACKAGES,
    package_dir={"xicam_gisaxs_cnn_trainer": "trainer"},
    package_data={"xicam_gisaxs_cnn": ["models/bundles/*/*", "*.yapsy-plugin"]},
    install_requires=CORE_REQUIRES,
    extras_require={
        "xicam": XICAM_REQUIRES,
        "gui": GUI_REQUIRES,
        "live": LIVE_REQUIRES,
        "validation": VALIDATION_REQUIRES,
        "test": TEST_REQUIRES,
        "all": XICAM_REQUIRES + LIVE_REQUIRES + VALIDATION_REQUIRES + TEST_REQUIRES,
    },
    entry_points={
        "console_scripts": ["gisaxs-cnn=xicam_gisaxs_cnn.cli:main"],
        "xicam.plugins.OperationPlugin": [
            "gisaxs_smear = xicam_gisaxs_cnn.operations.smear:smear",
            "gisaxs_gaussian_noise = xicam_gisaxs_cnn.operations.gaussian_noise:gaussian_noise",
            "gisaxs_poisson_noise = xicam_gisaxs_cnn.operations.poisson_noise:poisson_noise",
            "gisaxs_rescale = xicam_gisaxs_cnn.operations.rescale:rescale",
            "gisaxs_preprocess_frame = xicam_gisaxs_cnn.operations.preprocess_frame:preprocess_frame",
            "gisaxs_classify = xicam_gisaxs_cnn.operations.classify:classify",
            "gisaxs_classify_detector_frame = xicam_gisaxs_cnn.operations.classify_detector_frame:classify_detector_frame",
        ],
        "xicam.plugins.GUIPlugin": ["gisaxs_cnn = xicam_gisaxs_cnn.gui.plugin:GISAXSClassifierPlugin"],
        "databroker.sniffers": ["gisaxs_detector_files = xicam_gisaxs_cnn.gui.ingest:sniff_detector_file"],
        "databroker.ingestors": [
            "image/tiff = xicam_gisaxs_cnn.gui.ingest:ingest_tiff",
            "application/x-edf = xicam_gisaxs_cnn.gui.ingest:ingest_edf",
            "application/x-cbf = xicam_gisaxs_cnn.gui.ingest:ingest_cbf",
            "application/x-hdf5 = xicam_gisaxs_cnn.gui.ingest:ingest_nexus",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Physics",
    ],
)
