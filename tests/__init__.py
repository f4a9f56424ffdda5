"""Library tests, one folder per anchors sub-package (tests/<package>/test_<module>.py)."""
