"""Protocol fuzzing: catalog-derived strategies, a model-based stateful test, mutation fuzzing."""
