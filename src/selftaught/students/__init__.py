"""Students: models that answer prompts and learn from examples."""
