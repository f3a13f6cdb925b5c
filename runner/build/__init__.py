"""build-container, beside the notebook flow: the content hash of an image's inputs
(``hashing``), a Docker Registry HTTP API v2 client that asks whether a tag is there (``oci``),
and ``ensure_image``, which builds and pushes only when it is not (``image``).
"""
