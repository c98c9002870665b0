"""Training: datasets of color art, the manga-look augmentation, and the training loop."""
