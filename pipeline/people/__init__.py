"""Several dancers: where to look in a frame, one landmarker per dancer, stable ids."""
