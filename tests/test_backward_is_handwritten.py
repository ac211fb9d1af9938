"""No backward in handgrad/ calls back into autograd."""
import ast
import pathlib

import pytest

import handgrad

FORBIDDEN_PREFIXES = ("torch.autograd", "torch.func", "functorch", "torch.ops.aten")


def call_name(node):
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts)), parts


def forbidden_calls(tree):
    """(line, name) of every autograd call inside a function named backward, or called by one in the same file."""
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    to_visit = [node for node in functions.values() if node.name == "backward"]
    seen, found = set(), []
    while to_visit:
        function = to_visit.pop()
        if function.name in seen:
            continue
        seen.add(function.name)
        for node in ast.walk(function):
            if isinstance(node, ast.Call):
                name, parts = call_name(node)
                last = parts[0] if parts else ""
                if name.startswith(FORBIDDEN_PREFIXES) or last == "backward" or last.endswith("_backward"):
                    found.append((node.lineno, name))
                if name in functions:
                    to_visit.append(functions[name])
    return found


SOURCES = sorted(pathlib.Path(handgrad.__file__).parent.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_backward_calls_autograd(path):
    assert forbidden_calls(ast.parse(path.read_text())) == []


def test_the_scan_catches_a_forbidden_call():
    source = "class F:\n    def backward(ctx, g):\n        return torch.autograd.grad(g, ctx.x)\n"
    bad = "def backward(ctx, g):\n    return helper(g)\ndef helper(g):\n    return torch.ops.aten.threshold_backward(g)\n"
    assert forbidden_calls(ast.parse(source)) == [(3, "torch.autograd.grad")]
    assert forbidden_calls(ast.parse(bad))[0][1] == "torch.ops.aten.threshold_backward"
