"""The video analysis, the same in the CLI and in the workers: no Celery, database or HTTP.

`runner.analyze_video` takes a video to its outputs (`shared.outputs`); the subjects:
`video` (in and out), `pose` (the model and its landmarks), `people` (several dancers),
`analysis` (angles, movement, music), `compare` (an attempt against a reference), `motion`
(BVH, TRC, CSV), `segments` (a long video in pieces).
"""
