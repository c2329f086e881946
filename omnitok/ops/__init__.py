"""Quantization ops: each with an exact torch reference and a memory-bounded default path."""

from omnitok.ops.kmeans import kmeans
from omnitok.ops.nearest_code import NearestCode, nearest_code

__all__ = ["NearestCode", "kmeans", "nearest_code"]
