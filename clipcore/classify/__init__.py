"""Classifying a collection and measuring how well it worked.

Owns prompt sets (``prompts``), zero-shot (``zeroshot``), few-shot classifiers
(``fewshot``), the frozen hold-out (``splits``), ``metrics``, learning curves and stored
runs (``evaluation``), the EfficientNet ``baseline``, 2-D maps (``projection``) and the
HTML/CSV ``report``. A new classifier goes here. Imports ``retrieval``, ``embedding``,
``catalog`` and the bottom layer.
"""
