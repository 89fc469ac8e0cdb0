"""Turning images and text into CLIP vectors.

Owns model loading (``models``: open_clip tags, local checkpoints, the ``tiny``
random-init config, device and precision) and the pipeline that fills a workspace's
embedding sets (``pipeline``). A new decoder or embedding engine goes here. Imports
``catalog`` and the bottom layer.
"""
