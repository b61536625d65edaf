"""Maps of the latent space (PCA, t-SNE, UMAP) on one shared kNN graph, stored in the run."""

from .graph import KnnGraph, exact_knn, run_graph
from .methods import METHODS, LatentMap, check_params, fit_map, map_quality
from .store import load_map, map_file, save_map

__all__ = [
    "METHODS",
    "KnnGraph",
    "LatentMap",
    "check_params",
    "exact_knn",
    "fit_map",
    "load_map",
    "map_file",
    "map_quality",
    "run_graph",
    "save_map",
]
