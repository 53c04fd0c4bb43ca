"""Training a scene coordinate head from RGB-D frames with poses."""
