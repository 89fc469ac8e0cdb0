"""The labelling loop of a team.

Owns learn-as-you-go re-ranking, suggestions and auto-accept thresholds (``ranking``),
and who may do what (``roles``: the permission table and ``allowed``), and each annotator's labelling pace (``pace``). The label events themselves are data in ``catalog.labels``.
Imports ``classify`` and everything below it.
"""
