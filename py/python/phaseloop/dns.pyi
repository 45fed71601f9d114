"""Node's ``dns.lookup`` on phaseloop: ``Loop.lookup`` resolves a host name on the pool."""

__all__ = []  # nothing public: the API is Loop.lookup
