"""The Label page's sections: the labelling loop on screen (``loop``), its actions and the query of
the next page (``actions``; the page itself is computed by ``clipcore.team.loop``), history,
conflicts and exports (``review``)."""
