"""Everything that leaves crossclient: e-mails and signed callbacks, sent from the durable outbox."""
