"""The report: runs with their baselines and gate rows (``runs``), the gates (``gates``) and
their rendering to Markdown (``render``, ``comment_body``, ``wiki_pages``, ``release_notes``),
and the run log's writer over a page store (``pages``). No GitLab here and nothing from
``runner.publish``: the sinks in ``runner.publish`` take what this package builds.
"""
