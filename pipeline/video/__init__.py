"""Video in and out: open and decode upright, write H.264 with the audio, draw the skeleton,
make sample clips."""
