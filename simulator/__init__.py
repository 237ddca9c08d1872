"""A consulting firm's quarter of traced CRM / PSA / ERP / revenue sync traffic, with ground truth.

Entry points live in ``simulator.run``; the scenario is pure and seeded, the emitter uses the real
OpenTelemetry SDK, and ``simulator.truth`` documents the ground-truth JSON.
"""
