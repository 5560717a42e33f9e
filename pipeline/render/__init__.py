"""Drawing on yuv420p planes (annotators configured once, called per frame)."""
