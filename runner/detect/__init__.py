"""detect, the first stage: which notebooks to run. What changed since the base (``changes``),
the ``[run …]`` and ``[skip run]`` directives (``directives``), and what the next stage reads:
detect.json, the dotenv and the child pipeline's YAML (``childpipeline``).
"""
