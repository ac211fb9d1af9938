"""Where an exception came from, in one line: the type, the message and the file:line.

The checker never swallows an exception from the code it checks; it reports it with
the innermost line of the learner's code that raised it, skipping frames inside
torch, the standard library and the checker itself, which a learner cannot fix.
"""
import os
import sysconfig
import traceback

import torch

_NOT_YOURS = tuple(
    os.path.realpath(path) + os.sep
    for path in (os.path.dirname(torch.__file__), os.path.dirname(__file__), sysconfig.get_paths()["stdlib"])
)


def short_path(path):
    """path relative to the working directory when it lies below it, else as given."""
    full = os.path.realpath(path)
    here = os.path.realpath(os.getcwd()) + os.sep
    return full[len(here):] if full.startswith(here) else path


def where(error):
    """'file:line' of the innermost frame of the user's code in error's traceback, or None."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{short_path(error.filename)}:{error.lineno}"
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if not os.path.realpath(frame.filename).startswith(_NOT_YOURS):
            return f"{short_path(frame.filename)}:{frame.lineno}"
    return None


def describe(error, fallback=None):
    """'NotImplementedError: write the backward (at exercises/softplus.py:41)'.

    fallback names the code to look at when no frame is the user's, as when autograd
    rejects the gradients a backward returned, after it returned.
    """
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    place = where(error)
    if place is not None:
        return f"{text} (at {place})"
    if fallback is not None:
        return f"{text} (raised inside torch; look at {fallback})"
    return text
