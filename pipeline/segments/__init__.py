"""A long video in segments: where to cut it, how to decode one, how to stitch the outputs."""
