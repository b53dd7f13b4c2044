"""Placeholder: being written (storage backend github-release)."""
SETTINGS = ()


def open(settings, context):  # noqa
    raise NotImplementedError
