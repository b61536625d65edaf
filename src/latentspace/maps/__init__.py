"""Maps of the latent space (PCA, t-SNE, UMAP) on one shared kNN graph, stored in the run."""

from .graph import KnnGraph, exact_knn, run_graph
from .latent_map import LatentMap, fit_map, map_quality
from .registry import available_methods, check_params, get_method
from .store import best_map, load_map, map_file, save_map

__all__ = [
    "KnnGraph",
    "LatentMap",
    "available_methods",
    "best_map",
    "check_params",
    "exact_knn",
    "fit_map",
    "get_method",
    "load_map",
    "map_file",
    "map_quality",
    "run_graph",
    "save_map",
]
