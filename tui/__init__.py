"""The backoffice: a Textual app, one module per screen, and the `crossclient` command line."""
