"""The pose model and its landmarks: BlazePose for one dancer, the Tasks API bundle, and
`keypoints.json`."""
