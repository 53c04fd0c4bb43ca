"""Reading and writing frames: bags, dataset folders, images."""
