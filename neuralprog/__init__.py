"""neuralprog: models that learn to execute programs by acting through discrete interfaces."""

__version__ = "0.1.0"
