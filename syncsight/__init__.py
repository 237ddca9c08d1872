"""syncsight: observability for the sync between CRM, PSA, ERP and revenue recognition."""

__version__ = "0.1.0"
