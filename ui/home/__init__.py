"""The Home page's sections: the collection's status and jobs (``summary``), New collection /
rename / remove (``collections``) and IIIF sources typed into it (``iiif_import``)."""
