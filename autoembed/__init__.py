"""autoembed: which embedding-size method gives recommender models the best AUC per byte."""

__version__ = "0.1.0"
