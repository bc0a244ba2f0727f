"""Batch augmentations for training: shifts, flips, random erasing, mixup, and the variation a
camera brings (a turn and zoom of the object, brightness and contrast).

Each takes a float batch [N, H, W, C] and a stateless seed (two int32), so the same seed gives
the same batch on every run, every worker and after a resume. The input pipeline derives the
seed from (training seed, epoch, batch number).
"""

from __future__ import annotations

import math

import tensorflow as tf


def sub_seed(seed, k: int):
    """An independent stateless seed for the k-th augmentation of a batch."""
    return tf.random.experimental.stateless_fold_in(seed, k)


def shift(images, seed, max_shift: int):
    """Move each image by its own whole-pixel offset in [-max_shift, max_shift], filling zeros."""
    n = tf.shape(images)[0]
    offsets = tf.random.stateless_uniform([n, 2], seed, -max_shift, max_shift + 1, dtype=tf.int32)
    dx, dy = tf.unstack(tf.cast(offsets, tf.float32), axis=1)
    one, zero = tf.ones([n]), tf.zeros([n])
    # Output pixel (x, y) reads input pixel (x + dx, y + dy).
    transforms = tf.stack([one, zero, dx, zero, one, dy, zero, zero], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )


def turn_and_zoom(images, seed, max_degrees: float, max_scale: float):
    """Turn each image by up to `max_degrees` either way and zoom it by a factor in
    [1 - max_scale, 1 + max_scale], about its centre (bilinear, filling zeros)."""
    shape = tf.shape(images)
    n = shape[0]
    h, w = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    u = tf.random.stateless_uniform([n, 2], seed, -1.0, 1.0)
    angle = u[:, 0] * (max_degrees * math.pi / 180)
    zoom = 1.0 + u[:, 1] * max_scale
    # Output pixel p reads input pixel centre + R(-angle) (p - centre) / zoom.
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    cx, cy = (w - 1) / 2, (h - 1) / 2
    transforms = tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy,
         tf.zeros([n]), tf.zeros([n])],
        axis=1,
    )  # fmt: skip
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def brightness_contrast(images, seed, brightness: float, contrast: float):
    """Scale each image's brightness by a factor in [1 - brightness, 1 + brightness] and
    bend its contrast with a gamma in [1 / (1 + contrast), 1 + contrast], values kept in
    [0, 1]: black stays black, as the recipe's background does."""
    n = tf.shape(images)[0]
    u = tf.random.stateless_uniform([n, 2], seed, -1.0, 1.0)
    gamma = tf.exp(u[:, 1] * math.log1p(contrast))[:, None, None, None]
    factor = (1.0 + u[:, 0] * brightness)[:, None, None, None]
    bent = tf.pow(tf.clip_by_value(images, 0.0, 1.0), gamma)
    return tf.clip_by_value(bent * factor, 0.0, 1.0)


def flip(images, seed):
    """Mirror each image left-right with probability 1/2."""
    n = tf.shape(images)[0]
    mirrored = tf.random.stateless_uniform([n], seed) < 0.5
    return tf.where(mirrored[:, None, None, None], tf.reverse(images, axis=[2]), images)


def erase(images, seed, probability: float, area=(0.02, 0.25), aspect=(0.3, 3.3)):
    """Random erasing: with `probability`, zero one rectangle of each image.

    The rectangle covers a uniform fraction `area` of the image, with an aspect ratio drawn
    log-uniformly from `aspect`, at a uniform position where it fits.
    """
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    u = tf.random.stateless_uniform([n, 5], seed)
    apply = u[:, 0] < probability
    fraction = area[0] + (area[1] - area[0]) * u[:, 1]
    ratio = tf.exp(math.log(aspect[0]) + (math.log(aspect[1]) - math.log(aspect[0])) * u[:, 2])
    h = tf.clip_by_value(tf.round(tf.sqrt(fraction * h_f * w_f * ratio)), 1.0, h_f)
    w = tf.clip_by_value(tf.round(tf.sqrt(fraction * h_f * w_f / ratio)), 1.0, w_f)
    top = tf.floor(u[:, 3] * (h_f - h + 1))
    left = tf.floor(u[:, 4] * (w_f - w + 1))
    rows = tf.range(h_f)[None, :, None]
    cols = tf.range(w_f)[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + h)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + w)[:, None, None])
        & apply[:, None, None]
    )
    return tf.where(inside[..., None], tf.zeros_like(images), images)


def mixup(images, labels, seed, alpha: float):
    """Mixup: blend each image and its label with another of the batch, weight ~ Beta(a, a).

    One weight per batch, folded to >= 1/2 so each image stays the larger part of its blend.
    """
    g = tf.random.stateless_gamma([2], sub_seed(seed, 0), alpha=alpha)
    lam = tf.maximum(g[0], g[1]) / (g[0] + g[1])
    order = tf.random.experimental.stateless_shuffle(
        tf.range(tf.shape(images)[0]), sub_seed(seed, 1)
    )
    images = lam * images + (1 - lam) * tf.gather(images, order)
    labels = lam * labels + (1 - lam) * tf.gather(labels, order)
    return images, labels
