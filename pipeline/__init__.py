"""reelpipe: an event-driven video pipeline for sports highlight clips.

Apps put a clip and a JSON job manifest in an S3-compatible bucket; the pipeline
runs detect -> framing -> overlay -> upscale and keeps a status manifest beside
the job that apps read.
"""

__version__ = "0.3.0"
PIPELINE_VERSION = __version__
