"""Where labkit runs: Colab or not, its /content and the Drive mount point (standard library only).
LABKIT_CONTENT and LABKIT_DRIVE move them (the fake-Colab tests use them)."""
import os
import sys


def in_colab():
    """True in a Colab kernel, and in the commands (``!python -m ...``) it starts."""
    return "google.colab" in sys.modules or bool(os.environ.get("COLAB_RELEASE_TAG"))


def content_dir():
    return os.environ.get("LABKIT_CONTENT", "/content")


def drive_dir():
    """Where Google Drive is mounted (the setup cell mounts it at the same place)."""
    return os.environ.get("LABKIT_DRIVE", os.path.join(content_dir(), "drive"))
