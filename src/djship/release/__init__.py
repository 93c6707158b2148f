"""Releases: building them locally and the deploy pipeline that ships them."""
