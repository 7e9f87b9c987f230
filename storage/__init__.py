"""The cross-client domain: peewee models, migrations and every operation with its rules.

Nothing here imports textual, starlette or httpx; the TUI, the API and the mailer call these
functions and never re-implement a rule. Each operation is one function and one transaction.
"""
