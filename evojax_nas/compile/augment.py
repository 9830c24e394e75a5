"""On-device preprocessing, fused into the jitted steps.

Training images get the augmentation of He et al. (2016): 4-pixel zero
padding, a random crop back to the original size, a random horizontal flip.
Every image is standardised per channel with the training split's statistics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def standardize(images: jnp.ndarray, mean: jnp.ndarray,
                std: jnp.ndarray) -> jnp.ndarray:
  """uint8 (N,H,W,C) -> float32, zero mean and unit variance per channel."""
  return (images.astype(jnp.float32) / 255.0 - mean) / std


def augment(key: jax.Array, images: jnp.ndarray, pad: int = 4,
            flip: bool = True) -> jnp.ndarray:
  """Random pad-and-crop and horizontal flip of a float batch (N,H,W,C)."""
  n, h, w, c = images.shape
  k_y, k_x, k_flip = jax.random.split(key, 3)
  if pad:
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy = jax.random.randint(k_y, (n,), 0, 2 * pad + 1)
    dx = jax.random.randint(k_x, (n,), 0, 2 * pad + 1)
    images = jax.vmap(lambda im, y, x: jax.lax.dynamic_slice(
        im, (y, x, 0), (h, w, c)))(padded, dy, dx)
  if flip:
    mirror = jax.random.bernoulli(k_flip, 0.5, (n,))
    images = jnp.where(mirror[:, None, None, None], images[:, :, ::-1],
                       images)
  return images
