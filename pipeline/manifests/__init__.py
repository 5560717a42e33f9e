"""The wire formats: job manifests apps write, status manifests reelpipe writes."""

from pipeline.manifests.job import JobManifest, parse_job_manifest
from pipeline.manifests.status import JobState, StageState, StatusManifest

__all__ = ["JobManifest", "JobState", "StageState", "StatusManifest", "parse_job_manifest"]
