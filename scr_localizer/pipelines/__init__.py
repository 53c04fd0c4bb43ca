"""One function per user job, composed from the core's stages; the CLI verbs, the nodes, the demo
and the benchmarks call these instead of orchestrating the stages themselves.

- `mapping.build_map(MapJob)`: mapping bag -> trained map file (+ optional PLY).
- `localization.localize_bag(LocalizeJob)` / `evaluate_bag(...)`: every frame of a bag against a
  map, offline; the evaluation adds the ground-truth summary.
- `scr_localizer.ros.replay.replay(...)`: the same bag played over DDS into the live node (it
  needs rclpy, so it lives with the ROS adapters).
- `demo.run_demo(DemoConfig)`: built-in room -> map -> live replay -> report.
"""
