"""pixlens: make a pile of images searchable by what is in them."""

__version__ = "0.1.0"
