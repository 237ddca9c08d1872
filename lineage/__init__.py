"""Lineage for auditors: traversal, completeness, impact, evidence and OCEL export."""
