"""Super-resolution backends for the upscale stage: a Real-ESRGAN-compatible
network (torch, tiled) and a classical Lanczos + unsharp-mask fallback."""
