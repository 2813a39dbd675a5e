"""The receptive-field explorer (lecture 04)."""


def receptive_field_explorer(*args, **kwargs):
    """Placeholder while the explorer is being written (issue 13)."""
    raise NotImplementedError("receptive_field_explorer is being written")
