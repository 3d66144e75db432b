"""Training: schedules and the trainer loop."""
