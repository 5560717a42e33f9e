"""The media boundary: probing, decoding, encoding (ffmpeg CLI and PyAV)."""
