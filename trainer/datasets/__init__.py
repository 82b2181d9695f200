"""Training data: HDF5 shards, on-the-fly simulation, stratified splits, all yielding :class:`Batch`."""
from .batch import Batch
from .shards import ShardDataset, find_shards, read_shard, write_shard
from .splits import Split, stratified_split

__all__ = ["Batch", "ShardDataset", "Split", "find_shards", "read_shard", "stratified_split", "write_shard"]
