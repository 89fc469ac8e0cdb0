"""Finding images by vector: ranked search over an embedding set.

Owns ``search`` (exact cosine top-k, combined weighted queries, filters). A vector index
goes here. Imports ``embedding``, ``catalog`` and the bottom layer.
"""
