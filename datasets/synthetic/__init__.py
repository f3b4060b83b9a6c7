"""Synthetic street scenes: procedural urban objects composited onto real frames, with labels.

``generate.py`` (the entry point) -> ``backgrounds.py`` (real frames) + ``compose.py`` (placement, light,
occlusion, blur) + ``objects.py`` (the drawings) + ``draw.py`` (a small RGBA painter).
"""

CLASSES = ["vendor_stall", "parasol", "bin", "overflowing_bin", "debris_pile", "garbage_bag"]
CLASSES += ["goods_display", "material_pile"]  # issue 15: 店外经营 goods, 乱堆物料 (appended: ids stay stable)
CLASSES += ["laundry", "ad_sign", "muck_truck"]  # issue 15 scenes (scene_objects.py)
DEFAULT_VIDEOS = ("var/samples/vtest.mp4", "var/samples/bikes.mp4")
