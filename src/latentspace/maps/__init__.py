"""Maps of the latent space (PCA, t-SNE, UMAP) on one shared kNN graph (``latentspace.knn``), stored
in the run."""

from .latent_map import LatentMap, fit_map, map_quality
from .registry import available_methods, check_params, get_method
from .store import best_map, load_map, map_file, map_run, save_map

__all__ = [
    "LatentMap",
    "available_methods",
    "best_map",
    "check_params",
    "fit_map",
    "get_method",
    "load_map",
    "map_file",
    "map_quality",
    "map_run",
    "save_map",
]
