"""The simulated professional-services firm: scenario model, OTel emitter and ground truth."""
