"""jazzgen: learn jazz improvisation from transcriptions and play new solos over chord changes."""

__version__ = "0.1.0"
