"""The command-line tools: ``monitor`` itself (``cli``) and what its subcommands run: the calculator
(``calc``), snapshots (``snapshot``), the demo on the simulated exchange (``demo``), the prediction
check (``prediction``), and what ``check-config`` prints (``config_summary``, ``config_hints``)."""
