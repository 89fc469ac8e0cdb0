"""The Label page's sections: its actions and the query of the next page (``actions``; the page
itself is computed by ``clipcore.team.loop``), history, conflicts and exports (``review``)."""
