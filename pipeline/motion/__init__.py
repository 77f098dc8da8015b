"""Motion out of the video: each dancer's 3D world landmarks, smoothed (`world`), and the files
animation and biomechanics tools open: BVH (`bvh`, a skeleton's joint rotations from
`skeleton`), TRC (`trc`, marker trajectories for OpenSim) and a CSV of the world landmarks
(`world_csv`); `exports` writes whichever a job asked for."""
