"""Deployment of reelpipe at scale (the Modal app)."""
