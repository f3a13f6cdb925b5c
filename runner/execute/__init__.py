"""execute, the second stage: run each notebook on a kernel and leave what report reads.
Prepare and run one notebook or several (``notebook``), papermill on a kernel (``engine``,
``kernels``), its parameters (``parameters``, ``injection``, ``device``), the output folder
(``outputs``) and its HTML (``html``), the job log (``livelog``), several notebooks at once
(``schedule``), and no process outliving us (``reaper``). Importing this package loads nothing.
"""
