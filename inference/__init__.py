"""Models and pipelines: runtime sessions, the model pack, face and fish pipelines."""
