"""Business SLAs in business time, close risk, the evaluator and its notifiers."""
