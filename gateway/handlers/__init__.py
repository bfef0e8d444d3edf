"""One module of handlers per resource of the API."""
