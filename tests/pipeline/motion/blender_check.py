"""Import a BVH with Blender's own importer, as the README's two steps do, and say what came
in: bones, the scene's rate, and whether the dancer stands up and faces the front view.

    python -m venv /tmp/blender && /tmp/blender/bin/pip install bpy
    /tmp/blender/bin/python tests/pipeline/motion/blender_check.py out/motion.bvh

Not part of the suite: `bpy` (Blender as a Python module, some 400 MB) is in no lock file.
"""

from __future__ import annotations

import sys

import bpy  # type: ignore[import-not-found]


def main(path: str) -> int:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="io_anim_bvh")
    done = bpy.ops.import_anim.bvh(
        filepath=path,
        global_scale=1.0,
        axis_forward="-Z",
        axis_up="Y",
        update_scene_fps=True,
        update_scene_duration=True,
    )
    armature = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    scene = bpy.context.scene
    scene.frame_set(scene.frame_start)
    bones = armature.pose.bones
    hips, head = (armature.matrix_world @ bones[name].head for name in ("Hips", "Head"))
    left = armature.matrix_world @ bones["LeftUpLeg"].head
    right = armature.matrix_world @ bones["RightUpLeg"].head
    print(f"import: {done}; {len(armature.data.bones)} bones; {scene.render.fps} fps")
    print(f"head {head.z - hips.z:+.2f} m above the hips (Blender's z is up)")
    print(f"left hip at x {left.x - hips.x:+.2f}, right at {right.x - hips.x:+.2f}: ", end="")
    print("facing the front view" if left.x > right.x else "facing away")
    return 0 if done == {"FINISHED"} and head.z > hips.z and left.x > right.x else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
