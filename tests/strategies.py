"""Hypothesis strategies and helpers shared by the test files (imported as `strategies`)."""
import torch
from hypothesis import strategies as st


def ints_or_pairs(low, high):
    """An int or an (h, w) pair of ints in [low, high], as the functions accept."""
    return st.one_of(st.integers(low, high), st.tuples(st.integers(low, high), st.integers(low, high)))


def pair(value):
    return value if isinstance(value, tuple) else (value, value)


def randn(seed, *shape, dtype=torch.float32):
    """Standard normal tensor from a private generator (the global RNG is left alone)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@st.composite
def pool_configs(draw, max_size=12):
    """A valid max pooling configuration: padding at most half the kernel."""
    kernel = draw(ints_or_pairs(1, 4))
    stride = draw(st.one_of(st.none(), ints_or_pairs(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in pair(kernel))
    size = tuple(draw(st.integers(max(1, k - 2 * p), max_size)) for k, p in zip(pair(kernel), padding, strict=True))
    return dict(kernel_size=kernel, stride=stride, padding=padding, size=size)
