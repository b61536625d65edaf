"""Latent operations on any model through the contract: sample, interpolate (lerp/slerp),
traverse, attribute vectors, neighbours, denoise."""

from .latent import (
    LatentPath,
    Traversal,
    apply,
    as_latent,
    attribute_vector,
    denoise,
    edit,
    interpolate,
    lerp,
    parse_dims,
    sample,
    slerp,
    traverse,
)
from .neighbours import neighbours

__all__ = [
    "LatentPath",
    "Traversal",
    "apply",
    "as_latent",
    "attribute_vector",
    "denoise",
    "edit",
    "interpolate",
    "lerp",
    "parse_dims",
    "sample",
    "slerp",
    "traverse",
    "neighbours",
]
