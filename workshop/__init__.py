"""The 'Multi-stage Image Build' workshop as code: build, run, measure and log each step.

The packages are layers, each importing only from those below it (the lint session checks it):

    app         the session (settings made once, the engine, the bases) and each task's use case
    report      build/report.html and report.md
    checks      verify, budgets, trends and their JUnit/JSON output (python -m workshop.checks)
    shrink      the workshop's ladder on a user's own Go program
    steps       the workshop's steps: stand-ins, the runner, builds side by side, summary, sweep
    inspection  what is in an image: layers, explain, diff, wasted bytes
    records     the data files: the size log and the history, written atomically
    settings    every setting and its default
    engine      the Docker Engine: its values, the client, builders, endpoints, dockerd, registry
    (bottom)    errors, console, progress, signals, units, labels, paths, releases, catalogue,
                platforms

`invoke --list` imports nothing from docker-py: tasks.py imports the app layer lazily.
"""

__version__ = "0.1.0"
