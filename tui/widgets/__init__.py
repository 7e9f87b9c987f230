"""Reusable widgets of the backoffice: the paged list, form fields, modals."""
