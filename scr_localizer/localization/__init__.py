"""From an image and a map to a camera pose with uncertainty."""
