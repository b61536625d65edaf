"""Latent operations on any model through the contract: sample, interpolate (lerp/slerp),
traverse, attribute vectors, neighbours, denoise."""

from .latent import (
    MAX_OUTPUT_BYTES,
    LatentPath,
    Traversal,
    apply,
    as_latent,
    attribute_vector,
    check_output_rows,
    denoise,
    edit,
    interpolate,
    latent_path,
    lerp,
    parse_dims,
    sample,
    slerp,
    traverse,
)
from .neighbours import neighbours

__all__ = [
    "MAX_OUTPUT_BYTES",
    "LatentPath",
    "Traversal",
    "apply",
    "as_latent",
    "attribute_vector",
    "check_output_rows",
    "denoise",
    "edit",
    "interpolate",
    "latent_path",
    "lerp",
    "parse_dims",
    "sample",
    "slerp",
    "traverse",
    "neighbours",
]
