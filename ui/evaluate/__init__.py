"""The Evaluate page's sections: the hold-out (``holdout``), the run form and stored runs
(``run``), results (``results``), checks (``checks``), the baseline (``baseline``) and the
embedding map (``embedding_map``)."""
