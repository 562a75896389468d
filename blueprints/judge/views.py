"""Judge views (token login, declaration). Filled in by the judge-access work."""
