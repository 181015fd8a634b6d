"""Curation: review of renders, publication, the public gallery, the curators'
dashboard and the film look. Its own Django app (label ``curation``), nested beside
the restoration app it builds on; it depends on restoration and voting, never the
other way round."""
