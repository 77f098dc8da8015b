"""What the landmarks and the soundtrack say: angles and their ranges of motion, movement
energy and tempo, the beats, `analysis.json` and the metrics of `summary.json`."""
