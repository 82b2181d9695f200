"""Training data: HDF5 shards, stratified splits and the :class:`Batch` every source yields.

The on-the-fly source, :class:`~.onthefly.SimulatedDataset`, lives in
:mod:`.onthefly` and :func:`~.generate.make_shard` in :mod:`.generate`; they
import the simulator, which reading shards or HipGISAXS files does not need;
so does data echoing, :class:`~.echo.EchoedBatches` in :mod:`.echo`.
"""
from .batch import Batch
from .shards import ShardDataset, find_shards, read_shard, write_shard
from .splits import Split, stratified_split

__all__ = ["Batch", "ShardDataset", "Split", "find_shards", "read_shard", "stratified_split", "write_shard"]
