"""Runs the docs' commands and Python blocks for tests/test_docs.py, one child process each.

Started once, from the root of the repository copy the test made, by test_docs.py:

    python tests/docs_runner.py      # then one JSON request per line on stdin, one reply per line

It imports torch, Lightning, handgrad and the rest once, and forks a child per request, so
each command runs in a fresh process (its own module state, argv, environment and working
folder) without paying Lightning's start-up of several seconds again. A child runs a
command as the interpreter would:

- ``handgrad ARGS``: the ``handgrad`` console script's entry point, with sys.argv set;
- ``python -m MODULE ARGS``: runpy.run_module, the working folder first on sys.path;
- ``python FILE.py ARGS``: runpy.run_path, the file's folder first on sys.path;
- a Python block (or ``python -c CODE``): exec of its text as ``__main__``.

A request: {"kind": "console" | "module" | "script" | "code", "argv": [...], "code": "...",
"name": "README.md:12", "env": {...}, "timeout": seconds}. A reply: {"status": exit status,
or "timeout"; "stdout": ...; "stderr": ...}.
"""
import gc
import json
import os
import runpy
import signal
import sys
import tempfile
import traceback
from importlib.metadata import entry_points


def preload():
    """What most commands import; importing it here makes every child start with it loaded."""
    import matplotlib

    matplotlib.use("Agg")
    import lightning  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import sklearn.datasets  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    import datamodules  # noqa: F401
    import handgrad
    import handgrad.callbacks  # noqa: F401
    import handgrad.cli  # noqa: F401
    import handgrad.lightning  # noqa: F401

    del handgrad
    # what is loaded now lives as long as the runner: the children's garbage collector skips it
    # (and so does not copy the pages it sits on)
    gc.collect()
    gc.freeze()


def run(request):
    """In the child: run one request; never returns."""
    os.environ.update(request.get("env", {}))
    kind, argv = request["kind"], request.get("argv", [])
    status = 0
    try:
        if kind == "console":
            (script,) = entry_points(group="console_scripts", name=argv[0])
            sys.argv = list(argv)
            sys.exit(script.load()())  # what the console script itself does
        elif kind == "module":
            sys.path[0] = os.getcwd()
            sys.argv = [argv[0], *argv[1:]]
            runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        elif kind == "script":
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
        else:
            sys.path[0] = ""
            sys.argv = ["-c", *argv]
            exec(compile(request["code"], request["name"], "exec"), {"__name__": "__main__"})
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status if isinstance(status, int) else 1)


def serve(replies):
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                signal.alarm(int(request.get("timeout", 300)))  # a hung command ends, reported as a timeout
                run(request)
            _, wait_status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(wait_status)
            out.seek(0)
            err.seek(0)
            reply = {"status": "timeout" if code == -signal.SIGALRM else code,
                     "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main():
    replies = os.fdopen(os.dup(1), "w")  # the replies' own channel: the children write on fd 1 and 2
    os.dup2(2, 1)
    preload()
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    serve(replies)


if __name__ == "__main__":
    main()
